#include "cli/sim_cluster.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/python_tool.h"
#include "cli/write_file.h"
#include "policy/policy_spec.h"
#include "sim/cluster.h"
#include "sim/synth_trace.h"

namespace thaw::cli {

void add_cluster_flags(CLI::App& cmd, ClusterArgs& a) {
  cmd.add_option("--nodes", a.nodes,
                 "Cluster simulation: replay the trace over N nodes (repeatable: --nodes 1 --nodes 4 --nodes 16), "
                 "thaw (models placed by consistent hashing with bounded loads, each node's ladder under "
                 "--node-memory, pods scaled by a KEDA-like scaler) against a Knative-like baseline (a pod per "
                 "model, scale to zero after a window)")
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--node-memory", a.node_memory_gb, "Memory of each node in GB (the ladder's budget, less a pod)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd.add_option("--models", a.models,
                 "Model counts to run (repeatable); beyond the trace's, models are SYNTHESISED from its "
                 "per-app distributions of arrivals, memory and durations (src/sim/synth_trace.h)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  cmd.add_option("--minutes", a.minutes, "Replay only the trace's first minutes (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--thaw-start-ms", a.thaw_start_ms,
                 "thaw serve's start to ready (measured by bench/cluster_sim.sh)")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--k8s-pod-start-ms", a.k8s_pod_start_ms,
                 "Kubernetes' part of a new thaw pod's start (schedule, sandbox, container), assumed")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--pod-base-mb", a.pod_base_mb, "Memory of a thaw pod with nothing loaded")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--pod-target", a.pod_target,
                 "Requests a pod serves at once, on both sides (thaw: the ScaledObject's targetDemand; Knative: "
                 "its container-concurrency-target-default, 100)")
      ->check(CLI::Range(1, 1 << 20))->capture_default_str();
  cmd.add_flag("--pod-hard-limit", a.pod_hard_limit,
               "Make --pod-target a hard limit on both sides (a request past it waits for a slot or a new pod); "
               "default: a soft target that only sizes the pods, as Knative's default containerConcurrency 0");
  cmd.add_option("--keda-cooldown-s", a.keda_cooldown_s, "KEDA cooldownPeriod: a pod goes after this long unneeded")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--hpa-sync-s", a.hpa_sync_s, "How often the HPA behind KEDA resizes")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd.add_option("--knative-window-s", a.knative_window_s, "Knative-like: scale a model's pod to zero after this idle")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--knative-pod-start-min-ms", a.knative_start_min_ms, "Knative-like: shortest pod start")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--knative-pod-start-max-ms", a.knative_start_max_ms, "Knative-like: longest pod start (uniform)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--knative-pod-overhead-mb", a.knative_pod_overhead_mb,
                 "Knative-like: memory of a pod beyond its model (runtime, queue-proxy)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
}

int run_cluster(const ClusterArgs& a, const std::string& trace_path, const std::string& policy_spec,
                const std::string& profile_path, uint64_t seed, double default_memory_mb, int threads,
                const std::string& json_out, const std::string& plot_out) {
  if (a.knative_start_max_ms < a.knative_start_min_ms) {
    fmt::print(stderr, "error: --knative-pod-start-max-ms is below --knative-pod-start-min-ms\n");
    return kExitUsage;
  }
  policy::RungProfile profile;
  if (!profile_path.empty()) {
    auto p = policy::load_rung_profile(profile_path);
    if (!p.is_ok()) {
      fmt::print(stderr, "error: {}\n", p.status().to_string());
      return kExitUsage;
    }
    profile = *p;
  }
  if (auto p = policy::make_policy(policy_spec, profile); !p.is_ok()) {
    fmt::print(stderr, "error: {}\n", p.status().message());
    return kExitUsage;
  }
  sim::TraceOptions topts;
  topts.seed = seed;
  topts.default_memory_mb = default_memory_mb;
  auto read = sim::read_trace(trace_path, topts);
  if (!read.is_ok()) {
    fmt::print(stderr, "error: {}\n", read.status().to_string());
    return read.status().code() == Code::kNotFound ? kExitNotFound : kExitFailure;
  }
  sim::Trace trace = a.minutes > 0 ? sim::cut_trace(*read, a.minutes) : std::move(read).value();
  const size_t real_models = trace.apps.size();
  std::vector<size_t> counts = a.models;
  if (counts.empty()) counts.push_back(real_models);

  // A node whose budget is full of busy models refuses starts; each refusal is counted ("rejected"),
  // not logged.
  spdlog::set_level(spdlog::level::critical);
  sim::ClusterOptions co;
  co.node_memory_gb = a.node_memory_gb;
  co.pod_base_mb = a.pod_base_mb;
  co.policy = policy_spec;
  co.sim.profile = profile;
  co.placement.seed = seed;
  co.pods.target_per_pod = a.pod_target;
  co.pods.hard_limit = a.pod_hard_limit;
  co.knative.hard_limit = a.pod_hard_limit;
  co.pods.pod_start_ms = a.k8s_pod_start_ms + a.thaw_start_ms;
  co.pods.first_request_ms = profile.latency_ms[policy::index(policy::Rung::kPageCache)];
  co.pods.cooldown_s = a.keda_cooldown_s;
  co.pods.sync_s = a.hpa_sync_s;
  co.knative.window_s = a.knative_window_s;
  co.knative.pod_start_min_ms = a.knative_start_min_ms;
  co.knative.pod_start_max_ms = a.knative_start_max_ms;
  co.knative.model_load_ms = profile.latency_ms[policy::index(policy::Rung::kDisk)];
  co.knative.pod_overhead_mb = a.knative_pod_overhead_mb;
  co.knative.seed = seed;
  co.knative.target = a.pod_target;
  co.threads = threads;

  nlohmann::json j;
  j["trace"] = {{"path", trace_path}, {"format", trace.format}, {"apps", real_models},
                {"invocations", trace.invocations}, {"minutes", policy::to_minutes(trace.horizon)}, {"seed", seed}};
  j["synthesised_beyond"] = real_models;
  j["synthesis"] = "models beyond the trace's own are synthesised: the arrivals of one real app drawn at random, "
                   "shifted by up to 60 minutes, the memory of a second and the durations of a third";
  j["profile"] = {{"source", profile.source}};
  for (policy::Rung r : policy::kAllRungs)
    j["profile"][std::string(policy::rung_name(r))] = {{"latency_ms", profile.latency_ms[policy::index(r)]},
                                                       {"memory_fraction", profile.memory_fraction[policy::index(r)]}};
  j["parameters"] = {{"policy", policy_spec}, {"node_memory_gb", a.node_memory_gb},
                     {"thaw_start_ms", a.thaw_start_ms}, {"k8s_pod_start_ms", a.k8s_pod_start_ms},
                     {"pod_base_mb", a.pod_base_mb}, {"pod_target", a.pod_target},
                     {"pod_hard_limit", a.pod_hard_limit},
                     {"keda_cooldown_s", a.keda_cooldown_s}, {"hpa_sync_s", a.hpa_sync_s},
                     {"knative_window_s", a.knative_window_s},
                     {"knative_pod_start_ms", {a.knative_start_min_ms, a.knative_start_max_ms}},
                     {"knative_model_load_ms", co.knative.model_load_ms},
                     {"knative_pod_overhead_mb", a.knative_pod_overhead_mb},
                     {"placement", "consistent hashing with bounded loads (epsilon 0.25, 64 ring points per node), "
                                   "load = memory x (1 + mean concurrency)"}};
  j["results"] = nlohmann::json::array();
  fmt::print("{:>5} {:>7} {:>9} | {:>7} {:>7} {:>6} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>6} {:>7} {:>7} {:>7}\n",
             "nodes", "models", "calls", "thaw c%", "expens%", "pods+", "p50 ms", "p99 ms", "GB/node", "kn c%",
             "expens%", "pods+", "p50 ms", "p99 ms", "GB/node");
  int rc = kExitOk;
  for (size_t count : counts) {
    sim::Trace grown = count == real_models ? trace : sim::grow_trace(trace, {count, seed, 60});
    for (int n : a.nodes) {
      co.nodes = n;
      auto r = sim::simulate_cluster(grown, co);
      if (!r.is_ok()) {
        fmt::print(stderr, "error: {} nodes, {} models: {}\n", n, count, r.status().to_string());
        rc = kExitFailure;
        continue;
      }
      fmt::print("{:>5} {:>6}{} {:>9} | {:>7.3f} {:>7.3f} {:>6} {:>7.1f} {:>7.1f} {:>7.2f} | {:>7.3f} {:>7.3f} {:>6} "
                 "{:>7.1f} {:>7.1f} {:>7.2f}\n",
                 n, count, count > real_models ? "*" : " ", r->invocations, r->thaw.cold_pct, r->thaw.expensive_pct,
                 r->thaw.pod_starts, r->thaw.waited_p50_ms, r->thaw.waited_p99_ms, r->thaw.node_gb_mean,
                 r->knative.cold_pct, r->knative.expensive_pct, r->knative.pod_starts, r->knative.waited_p50_ms,
                 r->knative.waited_p99_ms, r->knative.node_gb_mean);
      auto rj = sim::to_json(*r);
      rj["synthesised"] = count > real_models;
      j["results"].push_back(std::move(rj));
    }
  }
  if (counts.back() > real_models || counts.front() > real_models)
    fmt::print("* models beyond the trace's {} are synthesised from its distributions\n", real_models);
  fmt::print("c%: requests that found their model not loaded (thaw: below the warm rung; Knative: no pod ready); "
             "expens%: of those, a process start (every Knative one); pods+: pods started; p50/p99: latency the start "
             "added to the requests that waited (over all requests in --json); GB/node: mean memory per node "
             "(page cache apart, in --json)\n");
  std::string json_path = json_out;
  if (json_path.empty() && !plot_out.empty()) json_path = plot_out + ".json";
  if (!json_path.empty()) {
    if (Status s = write_file(json_path, j.dump(1)); !s.is_ok()) {
      fmt::print(stderr, "error: {}\n", s.message());
      return kExitFailure;
    }
  }
  if (!plot_out.empty()) {
    if (Status s = run_python_tool("tools/plot_cluster.py", {"--json", json_path, "--out", plot_out}); !s.is_ok()) {
      fmt::print(stderr, "error: plotting: {}\n", s.message());
      return kExitFailure;
    }
  }
  return rc;
}

}  // namespace thaw::cli
