#include "sim/knative_baseline.h"

#include <algorithm>
#include <chrono>
#include <queue>
#include <random>

#include "sim/pod_scaler.h"

namespace thaw::sim {
namespace {

struct PodLife {
  int64_t start_us, end_us;
  double gb;
  bool operator<(const PodLife& o) const {
    return start_us != o.start_us ? start_us < o.start_us : gb > o.gb;
  }
};

}  // namespace

KnativeResult simulate_knative(const Trace& trace, const KnativeOptions& o) {
  KnativeResult r;
  const int64_t horizon_us = std::chrono::duration_cast<std::chrono::microseconds>(trace.horizon).count();
  std::vector<PodLife> pods;
  for (size_t i = 0; i < trace.apps.size(); ++i) {
    const TraceApp& app = trace.apps[i];
    std::mt19937_64 rng(o.seed * 1000003 + i);
    std::uniform_real_distribution<double> start_ms(o.pod_start_min_ms,
                                                    std::max(o.pod_start_min_ms, o.pod_start_max_ms));
    PodScalerOptions po;
    po.min_pods = 0;
    po.target_per_pod = o.target;
    po.hard_limit = o.hard_limit;
    po.sync_s = o.sync_s;
    po.cooldown_s = o.window_s;
    po.start_ms = [&] { return start_ms(rng) + o.model_load_ms; };
    std::vector<PodRequest> reqs;
    reqs.reserve(app.arrival_us.size());
    for (size_t k = 0; k < app.arrival_us.size(); ++k)
      reqs.push_back({app.arrival_us[k], app.duration_ms[k]});
    PodScalerResult s = scale_pods(reqs, horizon_us, po);
    r.invocations += reqs.size();
    r.pod_starts += s.pod_starts;
    r.cold_requests += s.from_zero;
    r.waited += s.waited;
    r.added_ms.insert(r.added_ms.end(), s.wait_ms.begin(), s.wait_ms.end());
    // The model's memory goes with its oldest pod alive; approximated by the first pod of each
    // overlapping group (pods come back sorted by removal, so sort by start).
    std::sort(s.pods.begin(), s.pods.end(),
              [](const PodLifetime& a, const PodLifetime& b) { return a.start_us < b.start_us; });
    int64_t covered_until = -1;
    const double model_gb = app.memory_mb * o.warm_fraction / 1024.0,
                 overhead_gb = o.pod_overhead_mb / 1024.0;
    for (const PodLifetime& p : s.pods) {
      const bool first = p.start_us >= covered_until;
      pods.push_back({p.start_us, p.end_us, overhead_gb + (first ? model_gb : 0.0)});
      if (first) covered_until = p.end_us;
    }
  }
  // Placement over time: each pod to the node with the least allocated when it starts.
  std::sort(pods.begin(), pods.end());
  const size_t n = static_cast<size_t>(std::max(1, o.nodes));
  std::vector<double> alloc(n, 0.0), since(n, 0.0);
  r.node_gb_s.assign(n, 0.0);
  r.node_peak_gb.assign(n, 0.0);
  using End = std::pair<int64_t, std::pair<size_t, double>>;
  std::priority_queue<End, std::vector<End>, std::greater<>> ends;
  auto advance = [&](size_t node, int64_t t_us) {
    const double t = static_cast<double>(t_us) / 1e6;
    r.node_gb_s[node] += alloc[node] * (t - since[node]);
    since[node] = t;
  };
  auto release_until = [&](int64_t t_us) {
    while (!ends.empty() && ends.top().first <= t_us) {
      auto [at, what] = ends.top();
      ends.pop();
      advance(what.first, at);
      alloc[what.first] -= what.second;
    }
  };
  for (const PodLife& p : pods) {
    release_until(p.start_us);
    const size_t node = static_cast<size_t>(std::min_element(alloc.begin(), alloc.end()) - alloc.begin());
    if (alloc[node] + p.gb > o.node_memory_gb) ++r.overcommitted_pods;
    advance(node, p.start_us);
    alloc[node] += p.gb;
    r.node_peak_gb[node] = std::max(r.node_peak_gb[node], alloc[node]);
    ends.push({p.end_us, {node, p.gb}});
  }
  release_until(INT64_MAX);
  r.span_s = static_cast<double>(horizon_us) / 1e6;
  return r;
}

}  // namespace thaw::sim
