// The state of one served model, shared by the instance pool (requests) and the ladder controller
// (timed work, starts). Everything here is guarded by ModelState::mu; neither part calls out
// (callbacks, launcher work that blocks) while holding it.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "manager/launcher.h"
#include "manager/serve_config.h"
#include "manager/tier.h"
#include "policy/idle_plan.h"
#include "policy/policy.h"

namespace thaw::manager {

class Lease;
using AcquireDone = std::function<void(Result<Lease>)>;

struct Instance {
  uint64_t id = 0;
  std::shared_ptr<WorkerHandle> worker;
  bool reserved = false;  // premium-only pool
  bool draining = false;  // takes no new requests; stopped once idle
  bool canary = false;    // runs the canary version (ModelState::canary): takes canary.percent of requests
  bool dead = false;
  bool broken = false;    // failed a request: draining, already counted in instance_deaths
  int outstanding = 0;
  Nanos last_used{0};
  uint64_t pss = 0;
};

// A request waiting for a slot: state, not a thread. Finished once granted, refused, expired or
// cancelled; a finished waiter may still sit in its queue until the queue is next looked at.
struct Waiter {
  Tier tier = Tier::kStandard;
  Nanos enqueued{0};
  Nanos deadline{0};
  std::optional<policy::Rung> cold_from;
  AcquireDone done;
  bool finished = false;
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
  uint64_t start_failures = 0, instance_deaths = 0, rejected = 0, timeouts = 0, cancelled = 0;
};

// A start asked of the launcher and not yet reported back.
struct PendingStart {
  uint64_t id = 0;
  bool reserved = false;
  Nanos asked{0};
  bool abandoned = false;  // past start_timeout: its result is discarded when it comes
  std::function<void(Status)> done;  // an admin hold waiting for this start
};

// The rungs' memory when last measured, kept after they are left (for the measured profile).
struct MeasuredMemory {
  uint64_t warm = 0;        // PSS of a fresh (not forked) instance
  uint64_t zygote = 0;      // PSS of the zygote
  uint64_t page_cache = 0;  // the bundle's resident bytes while the model sat at the page cache
  bool operator==(const MeasuredMemory&) const = default;
};

struct ModelState {
  ModelConfig config;
  policy::AppId app = 0;
  // What a fresh (not forked) instance is expected to add before one has been measured, and
  // whether the zygote rung may be used (from the backend's load plan).
  uint64_t start_estimate = 0;
  bool zygote_safe = true;

  mutable std::mutex mu;
  // For a model fetched from a source: what a fetch of its bundle would cost now (ms; bytes over the
  // measured bandwidth plus latency), 0 when it is not fetched. Set by the manager's fetch_estimate.
  double fetch_estimate_ms = 0.0;
  std::vector<std::shared_ptr<Instance>> instances;
  std::vector<PendingStart> starts;
  std::array<std::deque<std::shared_ptr<Waiter>>, kTierCount> waiters;
  size_t waiting = 0;  // unfinished waiters
  Nanos earliest_deadline = Nanos::max();
  std::shared_ptr<ZygoteHandle> zygote;
  bool zygote_starting = false;
  uint64_t zygote_pss = 0;
  int in_flight = 0;
  // Idle bookkeeping: the plan in force since idle_since (a policy's, or an admin hold).
  Nanos idle_since{0};
  bool in_idle_period = true;  // idle_since and plan describe the idle period in progress
  policy::IdlePlan plan{policy::Rung::kDisk};
  bool holding = false;
  bool unloaded = false;  // Triton's repository unload: refused until loaded again
  bool switching = false;  // a version switch is under way (Manager::publish_version): one at a time
  // A new version on a share of the traffic beside the serving one (LadderController::switch_bundle
  // with a percentage); promoted or cancelled by the next publish.
  struct {
    int percent = 0;  // 0: no canary
    std::string bundle, version, source;
    uint64_t seen = 0;  // requests given an instance while the canary runs
  } canary;
  policy::Rung applied = policy::Rung::kDisk;  // the lowest rung the last action reached
  Nanos last_request{0};
  Nanos start_backoff_until{0};
  Status last_error;
  uint64_t next_instance = 0;
  uint64_t next_start = 0;
  // Where the start in progress began (requests joining it climb from there): asking the OS again
  // for each waiting request would cost the event loop a residency check of the bundle each.
  policy::Rung start_rung = policy::Rung::kDisk;
  bool demand_active = false;  // as last published to the DemandHub
  ModelStats counters;  // totals only; the live fields are filled by stats()
  MeasuredMemory measured;
  // The measured costs last given to the policy, and what they rested on.
  struct {
    std::optional<policy::RungProfile> profile;
    double memory_mb = 0.0;
    uint64_t starts = 0;
    MeasuredMemory memory;
  } given;

  int starting(bool reserved) const {
    int n = 0;
    for (const auto& s : starts)
      if (!s.abandoned && s.reserved == reserved) ++n;
    return n;
  }
  int starting() const { return starting(false) + starting(true); }
  int live(bool reserved) const {
    int n = 0;
    for (const auto& i : instances)
      if (i->reserved == reserved && !i->dead && !i->draining) ++n;
    return n;
  }
  int live() const { return live(false) + live(true); }
  size_t waiting_in(Tier t) const {
    size_t n = 0;
    for (const auto& w : waiters[index(t)])
      if (!w->finished) ++n;
    return n;
  }
  bool idle() const { return in_flight == 0 && waiting == 0; }
  // A zygote's children get SIGTERM when it dies: none of them may take another request.
  void drain_forked() {
    for (auto& i : instances)
      if (i->worker->forked()) i->draining = true;
  }
};

// Idle shared instances above `keep`, removed from the model so no request picks them; busy ones
// beyond it are marked draining instead (stopped once idle). Model mutex held.
std::vector<std::shared_ptr<Instance>> take_idle_spares(ModelState& m, int keep);

}  // namespace thaw::manager
