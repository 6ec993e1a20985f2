// The policy interface shared by the live manager and the simulator. Pure code: no I/O, no
// threads, no wall clock; time arrives as arguments (from a Clock live, from the trace in sim).
//
// Event contract, per model (app), with non-decreasing times:
//   on_invocation(app, t)  a request arrived at t
//   on_idle(app, t)        the model's last request finished at t; the returned plan says which
//                          rung to hold at each offset after t until the next request
//   tick(t)                periodic housekeeping (retraining, budget control), at least once per
//                          minute of (simulated) time, with t non-decreasing across calls
// A policy may change an idle model's plan after on_idle returned it (a cache policy evicting it to
// make room for another model): the manager collects those revisions with take_revisions() after
// each on_invocation and tick.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "policy/idle_plan.h"

namespace thaw::policy {

using AppId = uint32_t;

struct AppInfo {
  double memory_mb = 0.0;  // resident memory of one warm instance (PSS)
  // The model's own rung costs (thaw serve measures them as it runs); unset: the policy's profile.
  std::optional<RungProfile> profile;
  // Where the model falls with nothing held: kDisk, or kRegistry while its bundle has no local copy
  // (a start then fetches it first). Cost-weighing policies price a cold start at this rung.
  Rung floor = Rung::kDisk;
};

// A plan changed during an idle period. Offsets count from that period's start, as on_idle's; the
// plan agrees with the one it replaces up to the moment of the change, and the reference on_idle
// returned reads the revised plan from then on.
struct PlanRevision {
  AppId app = 0;
  Nanos idle_since{0};  // the idle period it belongs to (on_idle's `now`)
  IdlePlan plan;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // "name:param=value,..." that make_policy() turns back into this configuration.
  virtual std::string spec() const = 0;
  // Declares a model before its first event, or (called again) updates what is known of it: its
  // measured memory and rung costs. Ids are dense: 0, 1, 2, ... An id seen first in an event is
  // declared then, with a default AppInfo.
  virtual void add_app(AppId app, const AppInfo& info) = 0;
  virtual void on_invocation(AppId app, Nanos now) = 0;
  // The reference stays valid until the next call for the same app.
  virtual const IdlePlan& on_idle(AppId app, Nanos now) = 0;
  virtual void tick(Nanos now) { (void)now; }
  // Appends the revisions made since the last call to `out`. Most policies make none.
  virtual void take_revisions(std::vector<PlanRevision>& out) { (void)out; }
};

inline constexpr Nanos kMinute = std::chrono::minutes(1);
inline Nanos minutes(double m) { return Nanos(static_cast<int64_t>(m * 60e9)); }
inline double to_minutes(Nanos d) { return to_seconds(d) / 60.0; }

// Per-app bookkeeping every history-based policy needs: when did the app go idle, and so how
// long was the idle period that an arrival ends. Concurrent arrivals (no idle in between) end
// no idle period.
class IdleTracker {
 public:
  void add_app(AppId app) {
    if (app >= idle_since_.size()) idle_since_.resize(app + 1, Nanos{-1});
  }
  void went_idle(AppId app, Nanos now) {
    add_app(app);
    idle_since_[app] = now;
  }
  // Returns the idle time that `now` ends, or a negative value when the app was not idle.
  Nanos arrived(AppId app, Nanos now) {
    add_app(app);
    Nanos since = idle_since_[app];
    idle_since_[app] = Nanos{-1};
    return since < Nanos{0} ? Nanos{-1} : now - since;
  }

 private:
  std::vector<Nanos> idle_since_;
};

}  // namespace thaw::policy
