#include "sim/cluster.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "policy/policy_spec.h"

namespace thaw::sim {
namespace {

struct Latencies {
  std::vector<float> v;
  double sum = 0.0;
  void add(float ms) {
    v.push_back(ms);
    sum += ms;
  }
  void fill(SideResult& s) {
    if (v.empty()) return;
    s.latency_mean_ms = sum / static_cast<double>(v.size());
    auto q = [&](double p) {
      size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
      return static_cast<double>(v[k]);
    };
    s.latency_p50_ms = q(0.5);
    s.latency_p99_ms = q(0.99);
    s.latency_max_ms = *std::max_element(v.begin(), v.end());
    // The ones that waited: after the partition, the tail of v.
    auto first = std::partition(v.begin(), v.end(), [](float ms) { return ms <= 0.0f; });
    const size_t n = static_cast<size_t>(v.end() - first);
    if (n == 0) return;
    auto wq = [&](double p) {
      auto k = first +
               static_cast<std::ptrdiff_t>(std::min(n - 1, static_cast<size_t>(p * static_cast<double>(n))));
      std::nth_element(first, k, v.end());
      return static_cast<double>(*k);
    };
    s.waited_p50_ms = wq(0.5);
    s.waited_p99_ms = wq(0.99);
  }
};

struct NodeOutcome {
  Status status = Status::ok();
  SimResult sim;
  PodScalerResult pods;
  std::vector<float> added_ms;  // ladder + pod wait, per request
  uint64_t waited = 0;
};

NodeOutcome replay_node(const Trace& node_trace, const ClusterOptions& o) {
  NodeOutcome out;
  auto pol = policy::make_policy(o.policy, o.sim.profile);
  if (!pol.is_ok()) {
    out.status = pol.status();
    return out;
  }
  // Per request: where its arrivals start in the flat list.
  std::vector<size_t> base(node_trace.apps.size() + 1, 0);
  for (size_t i = 0; i < node_trace.apps.size(); ++i)
    base[i + 1] = base[i] + node_trace.apps[i].arrival_us.size();
  std::vector<float> ladder_ms(base.back(), 0.0f);
  SimOptions so = o.sim;
  so.per_app = false;
  so.progress = nullptr;
  const double budget_gb = std::max(0.0, o.node_memory_gb - o.pod_base_mb / 1024.0);
  so.memory_budget_bytes = static_cast<uint64_t>(budget_gb * 1024.0 * 1024.0 * 1024.0);
  so.on_request = [&](uint32_t app, uint32_t k, float ms) { ladder_ms[base[app] + k] = ms; };
  out.sim = simulate(node_trace, std::move(*pol), so);
  // The node's requests in arrival order, for its pods.
  std::vector<std::pair<int64_t, size_t>> order;
  order.reserve(base.back());
  for (size_t i = 0; i < node_trace.apps.size(); ++i)
    for (size_t k = 0; k < node_trace.apps[i].arrival_us.size(); ++k)
      order.emplace_back(node_trace.apps[i].arrival_us[k], base[i] + k);
  std::sort(order.begin(), order.end());
  std::vector<PodRequest> reqs;
  reqs.reserve(order.size());
  std::vector<float> dur(base.back());
  for (size_t i = 0; i < node_trace.apps.size(); ++i)
    for (size_t k = 0; k < node_trace.apps[i].duration_ms.size(); ++k)
      dur[base[i] + k] = node_trace.apps[i].duration_ms[k];
  for (auto& [t, idx] : order) reqs.push_back({t + static_cast<int64_t>(ladder_ms[idx] * 1e3f), dur[idx]});
  // Ladder starts shift arrivals at the pods a little; keep them in order.
  std::vector<size_t> perm(reqs.size());
  for (size_t j = 0; j < perm.size(); ++j) perm[j] = j;
  std::stable_sort(perm.begin(), perm.end(),
                   [&](size_t a, size_t b) { return reqs[a].arrival_us < reqs[b].arrival_us; });
  std::vector<PodRequest> sorted(reqs.size());
  for (size_t j = 0; j < perm.size(); ++j) sorted[j] = reqs[perm[j]];
  const int64_t span_us = std::chrono::duration_cast<std::chrono::microseconds>(node_trace.horizon).count();
  out.pods = scale_pods(sorted, span_us, o.pods);
  out.added_ms.resize(reqs.size());
  for (size_t j = 0; j < perm.size(); ++j) {
    const size_t idx = order[perm[j]].second;
    const float total = ladder_ms[idx] + out.pods.wait_ms[j];
    out.added_ms[j] = total;
    if (total > 0.0f) ++out.waited;
  }
  return out;
}

}  // namespace

Result<ClusterResult> simulate_cluster(const Trace& trace, const ClusterOptions& o) {
  const auto wall = std::chrono::steady_clock::now();
  if (o.nodes < 1) return make_error(Code::kInvalidArgument, "--nodes must be at least 1");
  if (auto p = policy::make_policy(o.policy, o.sim.profile); !p.is_ok()) return p.status();
  ClusterResult r;
  r.nodes = o.nodes;
  r.models = trace.apps.size();
  r.invocations = trace.invocations;
  const double span_s = to_seconds(trace.horizon);
  r.span_s = span_s;

  // Placement by expected memory.
  std::vector<PlacedModel> placed;
  placed.reserve(trace.apps.size());
  for (const auto& a : trace.apps) {
    double busy = 0.0;
    for (float d : a.duration_ms) busy += d / 1e3;
    placed.push_back({a.id, model_load(a.memory_mb * o.sim.profile.memory_fraction[0], busy, span_s)});
  }
  PlacementOptions po = o.placement;
  po.nodes = o.nodes;
  const std::vector<int> node_of = place_models(placed, po);
  std::vector<Trace> node_traces(static_cast<size_t>(o.nodes));
  for (auto& t : node_traces) {
    t.format = trace.format;
    t.horizon = trace.horizon;
  }
  for (size_t i = 0; i < trace.apps.size(); ++i) {
    Trace& t = node_traces[static_cast<size_t>(node_of[i])];
    t.apps.push_back(trace.apps[i]);
    t.invocations += trace.apps[i].arrival_us.size();
  }

  std::vector<NodeOutcome> outcomes(node_traces.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t n; (n = next.fetch_add(1)) < node_traces.size();)
      outcomes[n] = replay_node(node_traces[n], o);
  };
  std::vector<std::thread> pool;
  const int threads = std::clamp(o.threads, 1, o.nodes);
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();

  Latencies lat;
  SideResult& th = r.thaw;
  double pc_sum = 0.0;
  for (size_t n = 0; n < outcomes.size(); ++n) {
    const NodeOutcome& no = outcomes[n];
    if (!no.status.is_ok()) return no.status;
    th.invocations += no.sim.invocations;
    for (policy::Rung rung : policy::kAllRungs) {
      const uint64_t n_rung = no.sim.starts_by_rung[policy::index(rung)];
      if (rung != policy::Rung::kWarm) th.cold_requests += n_rung;
      if (policy::is_expensive(rung)) th.expensive_requests += n_rung;
    }
    th.waited += no.waited;
    th.pod_starts += no.pods.pod_starts;
    th.scaleout_waits += no.pods.waited;
    th.rejected += no.sim.rejected;
    for (float ms : no.added_ms) lat.add(ms);
    const double gb =
        (no.sim.idle_gb_s + no.sim.busy_gb_s + no.pods.pod_seconds * o.pod_base_mb / 1024.0) / span_s;
    th.node_gb.push_back(gb);
    th.node_gb_max = std::max(th.node_gb_max, gb);
    th.node_gb_mean += gb / static_cast<double>(outcomes.size());
    pc_sum += no.sim.page_cache_gb_s / span_s;
    th.models_per_node.push_back(node_traces[n].apps.size());
  }
  th.node_page_cache_gb_mean = pc_sum / static_cast<double>(outcomes.size());
  auto pct = [](SideResult& s) {
    if (!s.invocations) return;
    s.cold_pct = 100.0 * static_cast<double>(s.cold_requests) / static_cast<double>(s.invocations);
    s.expensive_pct = 100.0 * static_cast<double>(s.expensive_requests) / static_cast<double>(s.invocations);
  };
  pct(th);
  lat.fill(th);

  KnativeOptions ko = o.knative;
  ko.nodes = o.nodes;
  ko.node_memory_gb = o.node_memory_gb;
  ko.warm_fraction = o.sim.profile.memory_fraction[0];
  KnativeResult k = simulate_knative(trace, ko);
  SideResult& kn = r.knative;
  kn.invocations = k.invocations;
  kn.cold_requests = k.cold_requests;
  kn.expensive_requests = k.cold_requests;
  kn.pod_starts = k.pod_starts;
  kn.waited = k.waited;
  kn.scaleout_waits = k.waited - std::min(k.waited, k.cold_requests);
  kn.overcommitted_pods = k.overcommitted_pods;
  pct(kn);
  Latencies klat;
  klat.v = std::move(k.added_ms);
  for (float ms : klat.v) klat.sum += ms;
  klat.fill(kn);
  for (size_t n = 0; n < k.node_gb_s.size(); ++n) {
    const double gb = k.node_gb_s[n] / span_s;
    kn.node_gb.push_back(gb);
    kn.node_gb_max = std::max(kn.node_gb_max, gb);
    kn.node_gb_mean += gb / static_cast<double>(k.node_gb_s.size());
    kn.node_peak_gb_max = std::max(kn.node_peak_gb_max, k.node_peak_gb[n]);
  }
  r.runtime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  return r;
}

nlohmann::json to_json(const ClusterResult& r) {
  auto side = [](const SideResult& s) {
    return nlohmann::json{{"invocations", s.invocations},
                          {"cold_requests", s.cold_requests},
                          {"cold_pct", s.cold_pct},
                          {"expensive_requests", s.expensive_requests},
                          {"expensive_pct", s.expensive_pct},
                          {"pod_starts", s.pod_starts},
                          {"scaleout_waits", s.scaleout_waits},
                          {"waited", s.waited},
                          {"rejected", s.rejected},
                          {"latency_ms",
                           {{"mean", s.latency_mean_ms},
                            {"p50", s.latency_p50_ms},
                            {"p99", s.latency_p99_ms},
                            {"max", s.latency_max_ms}}},
                          {"waited_latency_ms", {{"p50", s.waited_p50_ms}, {"p99", s.waited_p99_ms}}},
                          {"node_gb_mean", s.node_gb_mean},
                          {"node_gb_max", s.node_gb_max},
                          {"node_page_cache_gb_mean", s.node_page_cache_gb_mean},
                          {"node_peak_gb_max", s.node_peak_gb_max},
                          {"overcommitted_pods", s.overcommitted_pods},
                          {"models_per_node", s.models_per_node},
                          {"node_gb", s.node_gb}};
  };
  return {{"nodes", r.nodes},        {"models", r.models},   {"invocations", r.invocations},
          {"span_s", r.span_s},      {"thaw", side(r.thaw)}, {"knative", side(r.knative)},
          {"runtime_s", r.runtime_s}};
}

}  // namespace thaw::sim
