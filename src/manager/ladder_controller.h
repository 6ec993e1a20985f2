// The timed side of the manager: keeps every model on its rung of the ladder. It follows the
// policy's IdlePlan once a model is idle, starts instances when requests wait (forked from the
// zygote when one is up), keeps the floors (min_instances, reserved_instances) and pings them,
// reaps what died, enforces start timeouts with back-off, and keeps the PSS of everything within
// the memory budget by demoting the least recently used idle models.
//
// Time comes only from the Clock; the OS only through the Launcher. Live, `thaw serve` calls
// tick() every tick_interval and the process launcher does the work; `thaw sim` calls tick_model()
// at next_wakeup() over the fake launcher, so the simulator replays this code, not a copy of it.
//
// Thread-safety: every member may be called from any thread; model state is guarded by the model's
// mutex (the policy's is taken after it). One tick at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.h"
#include "manager/demand.h"
#include "manager/instance_pool.h"
#include "manager/launcher.h"
#include "manager/model_state.h"
#include "manager/policy_gate.h"

namespace thaw::manager {

struct ControllerOptions {
  std::string runtime_dir;   // sockets and logs; "" for a fake launcher
  uint64_t memory_budget_bytes = 0;
  std::chrono::milliseconds ping_interval{10'000};  // 0: no keep-warm pings
  std::chrono::milliseconds memory_interval{1'000}; // how often PSS is measured
  std::chrono::milliseconds stop_grace{5'000};      // an idle instance's graceful stop
  std::chrono::milliseconds start_backoff{2'000};   // after a failed start
  std::chrono::milliseconds scale_in_idle{60'000};  // a busy model's spare instance idle this long stops
  std::chrono::milliseconds costs_interval{10'000}; // how often measured costs go to the policy
  // The profile measured costs start from, rung by rung (the configured one).
  policy::RungProfile profile;
  // Called when the policy revised an idle model's plan (the simulator reschedules the model).
  std::function<void(ModelState&)> replanned;
  // Filled in by the manager: wakes its timer when a wait ends sooner than it sleeps.
  std::function<void(Nanos)> wake;
  // Filled in by the manager: where demand events go (none: not published).
  const DemandHub* demand = nullptr;
};

class LadderController final : public PoolEvents {
 public:
  LadderController(std::vector<ModelState*> models, InstancePool& pool, Launcher& launcher, PolicyGate& policy,
                   const Clock& clock, ControllerOptions options);

  // All timed work for every model, plus the policy's tick, memory and pings.
  void tick();
  // The timed work of one model at `now`: reaps, expires queue deadlines and abandoned starts,
  // keeps floors, follows the plan, scales in.
  void tick_model(ModelState& m, Nanos now);
  // The earliest time from `now` on that tick_model() would act on the model by itself (nullopt:
  // only an event will).
  std::optional<Nanos> next_wakeup(const ModelState& m, Nanos now) const;

  // Moves a model to `rung` now and holds it there until its next request. `done` runs once the
  // rung is reached (warm, zygote and page cache) or the move has begun (lower rungs).
  void hold(ModelState& m, policy::Rung rung, std::function<void(Status)> done);
  // A new version without a cold-start spike: starts as many instances of `bundle` as the model
  // runs now (at least one) beside them; once all are ready they take the model's traffic at once:
  // its bundle and version change, every older instance drains (its requests in flight finish, it
  // takes no new ones) and the older zygote stops. A failed start changes nothing (the started
  // instances stop); `done` hears why. Rolling back is the same call with the older bundle.
  // With `canary_percent` in 1..99 the new instances take that share of the requests beside the
  // old ones instead (a canary: the model's bundle and version stay) until promote_canary() or
  // cancel_canary().
  void switch_bundle(ModelState& m, std::string bundle, std::string version, std::string source,
                     std::function<void(Status)> done, int canary_percent = 0);
  // The canary becomes the served version (the others drain); or its instances drain.
  void promote_canary(ModelState& m);
  void cancel_canary(ModelState& m);
  // Starts one instance in the background if none is running or starting (a student answers
  // meanwhile). Counts as an invocation for the policy.
  void start_in_background(ModelState& m);

  // Stops everything: waiting requests are refused, instances and zygotes stopped (requests in
  // flight get `grace`).
  void shutdown(std::chrono::milliseconds grace);
  bool stopping() const { return stopping_; }

  // The rung a model sits at for /admin/models and /metrics (model mutex held).
  policy::Rung rung_of(const ModelState& m) const;
  uint64_t memory_bytes() const { return memory_total_; }

  // PoolEvents
  void invoked(ModelState& m, Nanos now) override;
  void need_capacity(ModelState& m, Deferred& later) override;
  void went_idle(ModelState& m, Nanos now) override;
  policy::Rung start_rung(const ModelState& m) override;
  void deadline_added(Nanos at) override;
  void waiting_at_zero(ModelState& m) override;

 private:
  std::optional<policy::Rung> planned_rung(const ModelState& m, Nanos now) const;
  void scale_up(ModelState& m, Deferred& later);
  // Records a start (model mutex held) and launches it once `later` runs.
  uint64_t start_instance(ModelState& m, bool reserved, Deferred& later);
  void launch_instance(ModelState& m, uint64_t start_id);
  void instance_started(ModelState& m, uint64_t start_id, uint64_t instance_id, policy::Rung from, Nanos launched,
                        const std::string& bundle, Result<std::shared_ptr<WorkerHandle>> result);
  void start_failed(ModelState& m, const Status& why, Deferred& later);
  void start_zygote(ModelState& m, std::function<void(Status)> done);
  void apply_rung(ModelState& m, policy::Rung target, std::function<void(Status)> done);
  // Stops them (broken ones are killed); `stopped` runs once every one has exited.
  void stop_instances(const std::vector<std::shared_ptr<Instance>>& victims, const ModelState& m, const char* why,
                      std::function<void()> stopped = nullptr);
  StartSpec spec_for(const ModelState& m, uint64_t id, const std::string& bundle) const;

  // Publishes `event` once `later` runs (model mutex held) and records the model active.
  void publish_active(ModelState& m, DemandEvent event, Deferred& later);
  // Publishes the move between active and zero that no event announced (model mutex not held).
  void note_activity(ModelState& m);

  void measure_memory();
  // Gives the policy each model's measured costs when they have moved (see measured_profile.h).
  void refresh_costs();
  // Puts the plans the policy revised in force; the next tick of each model follows them.
  void apply_revisions(Nanos now);
  Status make_room(const ModelState& for_model, uint64_t bytes);
  void enforce_budget(uint64_t total, const ModelState* spare, uint64_t extra);
  void ping_floors();

  std::vector<ModelState*> models_;
  InstancePool& pool_;
  Launcher& launcher_;
  PolicyGate& policy_;
  const Clock& clock_;
  ControllerOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> memory_total_{0};
  std::mutex tick_mu_;  // one tick at a time
  Nanos last_ping_{0}, last_memory_{0}, last_costs_{0};
};

}  // namespace thaw::manager
