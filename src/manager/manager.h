// The manager behind `thaw serve`, in three parts: the instance pool (requests get slots, or wait
// as state), the ladder controller (keeps every model on its rung of the cold-start ladder) and a
// launcher (processes for real; a fake one on simulated time for tests and `thaw sim`). This class
// puts them together, owns the timer that drives the controller, and answers admin questions.
//
// Thread-safety: every public member may be called from any thread. Time comes from the Clock.
// With tick_interval 0 there is no timer thread: the owner calls tick() (tests, the simulator).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "manager/demand.h"
#include "manager/instance_pool.h"
#include "manager/ladder_controller.h"
#include "manager/launcher.h"
#include "manager/lease.h"
#include "manager/policy_gate.h"
#include "manager/serve_config.h"
#include "manager/tier.h"
#include "policy/policy.h"
#include "policy/rung.h"

namespace thaw::manager {

// What the manager knows of a model before starting it (from its backend's load plan).
struct ModelLoadInfo {
  uint64_t fresh_instance_bytes = 0;  // PSS a fresh (not forked) instance is expected to add
  bool zygote_safe = true;            // whether the zygote rung may be used
};

struct ManagerOptions {
  std::string thaw_exe;      // the binary workers run as (`thaw run`); for the process launcher
  std::string runtime_dir;   // must exist; sockets and per-instance logs go here ("" with a fake launcher)
  uint64_t memory_budget_bytes = 0;
  std::string policy = "fixed10";
  policy::RungProfile profile;
  std::chrono::milliseconds ping_interval{10'000};
  std::chrono::milliseconds tick_interval{100};  // 0: no timer thread; the owner calls tick()
  size_t max_waiting = 10'000;
  double batch_shed_fraction = 0.5;
  // A model's load info; unset: the bundle's size plus 32 MiB, zygote allowed.
  std::function<ModelLoadInfo(const ModelConfig&)> load_info;
  // Called when the policy revised an idle model's plan (the simulator reschedules the model).
  std::function<void(ModelState&)> replanned;
  // Models given but not served (bad bundles): listed by describe(), and a request for one gets
  // kUnavailable naming the error.
  std::vector<RefusedModel> refused;
  // Registers a version's source with the model store: its local bundle path and version, or why
  // not (docs/registry.md). Unset: publishing versions is refused.
  struct SourceVersion {
    std::string bundle;
    std::string version;
  };
  std::function<Result<SourceVersion>(const std::string& model, const std::string& source, const std::string& sha256)>
      register_source;
  // The model store's state for describe() ("store"); unset: null.
  std::function<nlohmann::json()> describe_store;
};

class Manager {
 public:
  // Validates the policy and the models; starts nothing yet except the timer thread. Without a
  // launcher, workers are real processes of options.thaw_exe; without a policy, options.policy
  // names it.
  static Result<std::unique_ptr<Manager>> create(ManagerOptions options, std::vector<ModelConfig> models,
                                                 const Clock& clock, std::unique_ptr<Launcher> launcher = nullptr,
                                                 std::unique_ptr<policy::Policy> policy = nullptr);
  ~Manager();  // shutdown()

  // A slot on an instance of `model`, through `done` now or later (see InstancePool::acquire);
  // kNotFound for an unknown model. Cancel a queued request with the returned ticket.
  WaitTicket acquire(const std::string& model, Tier tier, std::optional<Nanos> deadline, AcquireDone done);
  void cancel(const WaitTicket& ticket) { pool_->cancel(ticket); }
  // acquire(), waiting for the answer: for tools and tests, never on a serving thread.
  Result<Lease> acquire_wait(const std::string& model, Tier tier, std::optional<Nanos> deadline = std::nullopt);

  // Whether a request of this tier would find a running instance (busy or not).
  bool has_instance(const std::string& model, Tier tier) const;
  // Starts one instance in the background if none is running or starting (a student answers
  // meanwhile). Counts as an invocation for the policy.
  void start_in_background(const std::string& model);

  // Moves a model to `rung` now and holds it there until its next request; `done` runs once warm,
  // zygote or page cache is reached (or the move down has begun).
  void hold(const std::string& model, policy::Rung rung, std::function<void(Status)> done);
  Status hold_wait(const std::string& model, policy::Rung rung);
  // Triton's repository extension: unload refuses the model's requests (and drops it to disk)
  // until load, which serves it again and brings it up warm.
  void unload(const std::string& model, std::function<void(Status)> done);
  void load(const std::string& model, std::function<void(Status)> done);
  bool unloaded(const std::string& model) const;
  // A new version from `source` (POST /admin/models/{m}/versions, SIGHUP): fetched into the model
  // store (only the chunks the local versions do not share), warmed into the page cache, started
  // beside the serving version, then switched to at once (LadderController::switch_bundle). The
  // same source as now answers at once; a failure anywhere leaves the serving version as it is.
  // `canary_percent` 1..99: the new version takes that share of the requests beside the served one
  // (a canary); publishing the canary's source again (without a share, or 100) promotes it, the
  // served one's source cancels it, another share changes it.
  void publish_version(const std::string& model, const std::string& source, const std::string& sha256,
                       std::function<void(Status)> done, int canary_percent = 0);
  // The version a model serves now (a copy: a switch may change it at any time).
  std::string model_version(const std::string& model) const;

  // The timed work (see LadderController::tick); the timer thread calls it every tick_interval.
  void tick();
  // Stops every instance and zygote (they finish requests in flight within `grace`).
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(10'000));

  // A model's demand now (kNotFound for an unknown model), and its events (for the KEDA scaler).
  Result<ModelDemand> demand(const std::string& model) const;
  DemandHub& demand_hub() { return demand_hub_; }

  bool has_model(const std::string& model) const;
  // For a model whose bundle was refused at start (options().refused): kUnavailable naming why.
  std::optional<Status> refusal(const std::string& model) const;
  std::vector<std::string> model_names() const;
  const ModelConfig* model_config(const std::string& model) const;
  std::vector<ModelStats> stats() const;
  nlohmann::json describe() const;  // /admin/models
  // The rung costs measured so far as a profile file (/admin/profile, --write-profile; see
  // measured_profile.h), unmeasured rungs from options().profile.
  std::string profile_yaml() const;
  uint64_t memory_bytes() const;    // PSS of everything, last measured
  const ManagerOptions& options() const { return options_; }

  // The parts, for the simulator.
  LadderController& controller() { return *controller_; }
  InstancePool& pool() { return *pool_; }
  Launcher& launcher() { return *launcher_; }
  ModelState* model_state(const std::string& model) const;
  const std::vector<std::unique_ptr<ModelState>>& models() const { return models_; }

 private:
  Manager(ManagerOptions options, const Clock& clock) : options_(std::move(options)), clock_(clock) {}
  void timer_loop();
  void wake(Nanos at);

  ManagerOptions options_;
  const Clock& clock_;
  std::vector<std::unique_ptr<ModelState>> models_;
  std::map<std::string, ModelState*, std::less<>> by_name_;
  DemandHub demand_hub_;
  std::unique_ptr<PolicyGate> policy_;
  std::unique_ptr<Launcher> launcher_;
  std::unique_ptr<InstancePool> pool_;
  std::unique_ptr<LadderController> controller_;

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  Nanos wake_at_ = Nanos::max();
  bool stopping_ = false;  // guarded by timer_mu_
  bool shut_down_ = false;
  std::thread timer_;
};

}  // namespace thaw::manager
