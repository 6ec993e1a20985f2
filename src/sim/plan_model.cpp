#include "sim/simulator.h"

#include <algorithm>
#include <chrono>

namespace thaw::sim {

using policy::AppId;
using policy::IdlePlan;
using policy::Rung;

namespace {

struct AppState {
  size_t next = 0;
  bool seen = false;
  const IdlePlan* plan = nullptr;  // plan of the idle period in progress, once announced
  Nanos busy_until{0};
  Nanos ready_at{0};
  uint64_t cold = 0, expensive = 0;
};

Nanos us(int64_t v) { return std::chrono::microseconds(v); }

}  // namespace

SimResult simulate_plan_model(const Trace& trace, policy::Policy& pol, const SimOptions& opts) {
  auto wall_start = std::chrono::steady_clock::now();
  SimResult r;
  r.policy = pol.spec();
  const auto& profile = opts.profile;
  const size_t n = trace.apps.size();
  std::vector<AppState> st(n);
  for (size_t i = 0; i < n; ++i) pol.add_app(static_cast<AppId>(i), policy::AppInfo{trace.apps[i].memory_mb});
  std::vector<float> latencies;
  latencies.reserve(trace.invocations);
  double latency_sum_ms = 0.0;

  auto account_idle = [&](const IdlePlan& plan, Nanos length, double memory_mb) {
    auto secs = plan.seconds_at_rungs(length);
    for (Rung rung : policy::kAllRungs) {
      int k = policy::index(rung);
      r.idle_seconds[k] += secs[k];
      r.idle_gb_s_by_rung[k] += secs[k] * profile.memory_gb(rung, memory_mb);
    }
  };

  const int64_t minutes_total = trace.horizon / policy::kMinute;
  // Arrivals past the horizon (a malformed trace) are still replayed in a final pass.
  int64_t last_minute = minutes_total;
  for (const auto& a : trace.apps)
    if (!a.arrival_us.empty()) last_minute = std::max(last_minute, a.arrival_us.back() / 60'000'000 + 1);
  uint64_t done = 0;
  std::vector<policy::PlanRevision> revisions;
  for (int64_t m = 0; m < last_minute; ++m) {
    const int64_t end_us = (m + 1) * 60'000'000;
    for (size_t i = 0; i < n; ++i) {
      const TraceApp& app = trace.apps[i];
      AppState& s = st[i];
      while (s.next < app.arrival_us.size() && app.arrival_us[s.next] < end_us) {
        const Nanos t = us(app.arrival_us[s.next]);
        const Nanos duration = Nanos(static_cast<int64_t>(static_cast<double>(app.duration_ms[s.next]) * 1e6));
        ++s.next;
        Rung rung = Rung::kWarm;
        double added_ms = 0.0;
        if (!s.seen) {
          s.seen = true;
          r.before_first_seconds += to_seconds(t);
          rung = Rung::kDisk;
        } else if (t >= s.busy_until) {
          if (s.plan == nullptr) s.plan = &pol.on_idle(static_cast<AppId>(i), s.busy_until);
          rung = s.plan->rung_at(t - s.busy_until);
          account_idle(*s.plan, t - s.busy_until, app.memory_mb);
        } else {
          ++r.concurrent;
          if (s.ready_at > t) added_ms = to_ms(s.ready_at - t);
        }
        s.plan = nullptr;
        pol.on_invocation(static_cast<AppId>(i), t);
        ++r.starts_by_rung[policy::index(rung)];
        if (rung != Rung::kWarm) {
          added_ms = profile.latency_ms[policy::index(rung)];
          s.ready_at = t + Nanos(static_cast<int64_t>(added_ms * 1e6));
          ++s.cold;
          if (policy::is_expensive(rung)) ++s.expensive;
        }
        latencies.push_back(static_cast<float>(added_ms));
        latency_sum_ms += added_ms;
        // The app is busy from max(t, old busy end) until the request finishes.
        Nanos start = std::max(t, s.ready_at);
        Nanos busy_end = std::max(s.busy_until, start + duration);
        Nanos busy_from = std::max(t, s.busy_until);
        if (busy_end > busy_from) {
          double b = to_seconds(busy_end - busy_from);
          r.busy_seconds += b;
          r.busy_gb_s += b * app.memory_mb / 1024.0;
        }
        s.busy_until = busy_end;
        ++done;
      }
      // Announce the idle period once the app's last request has finished, in time order, so
      // policies that watch all apps at once (the ladder's budget) see who is idle now.
      if (s.seen && s.plan == nullptr && s.busy_until <= us(end_us))
        s.plan = &pol.on_idle(static_cast<AppId>(i), s.busy_until);
    }
    pol.tick(std::chrono::microseconds(end_us));
    // A revised plan replaces the one on_idle returned in the policy's own storage, which s.plan
    // points at: the revisions themselves are not needed here.
    revisions.clear();
    pol.take_revisions(revisions);
    if (opts.progress && (m % 30 == 29 || m + 1 == last_minute)) opts.progress(done);
  }
  // The last idle period of each app runs to the end of the trace.
  for (size_t i = 0; i < n; ++i) {
    AppState& s = st[i];
    const TraceApp& app = trace.apps[i];
    if (!s.seen) {
      r.before_first_seconds += to_seconds(trace.horizon);
      r.span_seconds += to_seconds(trace.horizon);
      continue;
    }
    if (s.busy_until < trace.horizon) {
      if (s.plan == nullptr) s.plan = &pol.on_idle(static_cast<AppId>(i), s.busy_until);
      account_idle(*s.plan, trace.horizon - s.busy_until, app.memory_mb);
    }
    r.span_seconds += to_seconds(std::max(trace.horizon, s.busy_until));
    if (opts.per_app && !app.arrival_us.empty()) {
      double calls = static_cast<double>(app.arrival_us.size());
      r.app_cold_pct.push_back(static_cast<float>(100.0 * static_cast<double>(s.cold) / calls));
      r.app_expensive_pct.push_back(static_cast<float>(100.0 * static_cast<double>(s.expensive) / calls));
    }
  }

  r.invocations = done;
  summarise(r, latencies, latency_sum_ms, opts.price_gb_s);
  r.runtime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return r;
}

}  // namespace thaw::sim
