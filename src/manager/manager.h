// The manager keeps every model on a rung of the cold-start ladder (warm instances, zygote, page
// cache, disk) and hands requests a slot on a warm instance.
//
// Requests: acquire() returns a Lease on the least-loaded instance with a free slot. With none
// free, the request waits in the model's bounded queue (premium first, batch last) while the
// manager starts an instance: forked from the zygote when one is up, else a fresh `thaw run`.
// Idle models follow the policy's IdlePlan (fixed keep-alive by default); admin calls can hold a
// model at a rung. Floors (min_instances, reserved_instances) are kept and pinged on /warm. The
// PSS of every instance and zygote counts against the memory budget; over it, the least recently
// used idle models are demoted down the ladder.
//
// Thread-safety: every public member may be called from any thread. Time comes from the Clock;
// tick() does all timed work and runs on the manager's own thread unless tick_interval is 0
// (tests then call tick() themselves).
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
#include "http/client.h"
#include "manager/serve_config.h"
#include "manager/tier.h"
#include "policy/policy.h"
#include "policy/rung.h"

namespace thaw::manager {

// What a model's backend says about starting it (engine::LoadPlan, looked up by `thaw serve`), so
// the manager plans without knowing backends.
struct ModelLoadInfo {
  uint64_t start_bytes = 0;  // memory a fresh (not forked) instance adds before it is measured
  bool zygote_safe = true;   // false: the model never takes the zygote rung (page cache instead)
};

struct ManagerOptions {
  std::string thaw_exe;      // the binary workers run as (`thaw run`)
  std::string runtime_dir;   // must exist; sockets and per-instance logs go here
  uint64_t memory_budget_bytes = 0;
  std::string policy = "fixed10";
  policy::RungProfile profile;
  std::chrono::milliseconds ping_interval{10'000};
  std::chrono::milliseconds tick_interval{100};  // 0: no thread; the owner calls tick()
  size_t max_waiting = 192;
  double batch_shed_fraction = 0.5;
  // Called once per model by create(); unset: the bundle's file size, zygote allowed.
  std::function<ModelLoadInfo(const std::string& bundle_path)> load_info;
};

class Manager;
struct ModelState;
struct Instance;

// One request's slot on one instance. Give it back by destroying it; call mark_failed() first
// when the instance broke under the request (it takes no new request; the manager replaces it).
class Lease {
 public:
  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  http::Client& client();
  uint64_t instance_id() const;
  Nanos queued() const { return queued_; }
  // The rung this request had to climb from (nullopt: it found a warm instance).
  std::optional<policy::Rung> cold_from() const { return cold_from_; }
  void mark_failed() { failed_ = true; }

 private:
  friend class Manager;
  Lease(Manager* manager, ModelState* model, std::shared_ptr<Instance> instance,
        std::unique_ptr<http::Client> client, Nanos queued, std::optional<policy::Rung> cold_from);
  Manager* manager_;
  ModelState* model_;
  std::shared_ptr<Instance> instance_;
  std::unique_ptr<http::Client> client_;
  Nanos queued_{0};
  std::optional<policy::Rung> cold_from_;
  bool failed_ = false;
};

// Counters for /metrics and /admin/models (a copy; totals since start).
struct ModelStats {
  std::string name;
  policy::Rung rung = policy::Rung::kDisk;
  int instances = 0, reserved = 0, starting = 0, in_flight = 0;
  std::array<size_t, kTierCount> waiting{};
  uint64_t memory_bytes = 0;  // PSS of its instances and zygote
  bool zygote = false;
  std::array<uint64_t, policy::kRungCount> cold_starts{};      // instance starts by the rung they began at
  std::array<double, policy::kRungCount> cold_start_seconds{};  // summed start time per rung
  uint64_t start_failures = 0, instance_deaths = 0, rejected = 0, timeouts = 0;
};

class Manager {
 public:
  // Validates the policy and the models; starts nothing yet except the tick thread.
  static Result<std::unique_ptr<Manager>> create(ManagerOptions options, std::vector<ModelConfig> models,
                                                 const Clock& clock);
  ~Manager();  // shutdown()

  // Waits (up to the model's queue timeout, and `deadline` if sooner) for a slot. Errors:
  // kNotFound unknown model; kResourceExhausted queue full or batch shed (retry later);
  // kUnavailable the model cannot start (the message says why) or the manager is stopping;
  // kDeadlineExceeded no slot in time.
  Result<Lease> acquire(const std::string& model, Tier tier, std::optional<Nanos> deadline = std::nullopt);

  // Whether a request of this tier would find a running instance (busy or not).
  bool has_instance(const std::string& model, Tier tier) const;
  // Starts one instance in the background if none is running or starting (a student answers
  // meanwhile). Counts as an invocation for the policy.
  void start_in_background(const std::string& model);

  // Moves a model to `rung` now and holds it there until its next request. Warm, zygote and page
  // cache are reached before this returns (or it fails); lower rungs stop instances once idle.
  Status hold(const std::string& model, policy::Rung rung);

  // Does the timed work: reaps dead processes, keeps floors, follows idle plans, pings, enforces
  // the memory budget. Called by the manager's thread every tick_interval.
  void tick();

  // Stops every instance and zygote (they finish requests in flight within `grace`).
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(10'000));

  bool has_model(const std::string& model) const;
  std::vector<std::string> model_names() const;
  const ModelConfig* model_config(const std::string& model) const;
  std::vector<ModelStats> stats() const;
  nlohmann::json describe() const;  // /admin/models
  uint64_t memory_bytes() const;    // PSS of everything, last measured
  const ManagerOptions& options() const { return options_; }

  struct Impl;

 private:
  friend class Lease;
  Manager(ManagerOptions options, const Clock& clock);
  void release(Lease& lease);

  ManagerOptions options_;
  const Clock& clock_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::manager
