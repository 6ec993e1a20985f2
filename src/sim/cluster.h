// The cluster on paper: a trace replayed over N nodes, thaw against a Knative-like baseline.
//
// thaw: models are placed on nodes (sim/placement.h); each node replays its models' requests
// through its own manager with the ladder policy and the node's memory budget (sim/simulator.h:
// the production manager on simulated time), and its thaw pods are scaled by a KEDA-like scaler
// (sim/pod_scaler.h). A request's added latency is its ladder start plus any wait for a pod.
// Knative-like: one pod per model, scale to zero after a window, pod starts drawn from a range
// (sim/knative_baseline.h). Both see the same requests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/knative_baseline.h"
#include "sim/placement.h"
#include "sim/pod_scaler.h"
#include "sim/simulator.h"

namespace thaw::sim {

struct ClusterOptions {
  int nodes = 1;
  double node_memory_gb = 64.0;
  double pod_base_mb = 30.0;  // a thaw serve pod with nothing loaded (RSS)
  std::string policy = "ladder";
  SimOptions sim;  // profile and serving configuration of every node's manager
  PlacementOptions placement;
  PodScalerOptions pods;
  KnativeOptions knative;
  int threads = 2;  // nodes replayed at once
};

struct SideResult {  // one of thaw or the Knative-like baseline
  uint64_t invocations = 0;
  // Cold starts: requests that found their model not loaded (thaw: on a rung below warm; Knative:
  // with no pod of it ready), and of those the expensive ones (a process start: thaw's page-cache
  // and disk rungs; every Knative one).
  uint64_t cold_requests = 0, expensive_requests = 0;
  uint64_t pod_starts = 0;
  uint64_t scaleout_waits = 0;  // requests that waited for a pod slot or an added pod, model loaded
  uint64_t waited = 0;          // requests with any added latency
  uint64_t rejected = 0;  // thaw: requests a node's manager refused (its memory budget full of busy models)
  double cold_pct = 0.0, expensive_pct = 0.0;
  // Added latency over every request (mostly 0: a cold start is rare), and over the requests that
  // waited (the start latency people feel: its median and p99).
  double latency_mean_ms = 0.0, latency_p50_ms = 0.0, latency_p99_ms = 0.0, latency_max_ms = 0.0;
  double waited_p50_ms = 0.0, waited_p99_ms = 0.0;
  // Memory per node, GB, averaged over the trace: thaw's instances, zygotes, busy requests and pods;
  // the page cache the ladder keeps apart (reclaimable).
  double node_gb_mean = 0.0, node_gb_max = 0.0;  // mean over nodes, the busiest node
  double node_page_cache_gb_mean = 0.0;
  double node_peak_gb_max = 0.0;    // Knative: the highest allocation any node reached
  uint64_t overcommitted_pods = 0;  // Knative: pods that found no node with room
  std::vector<size_t> models_per_node;
  std::vector<double> node_gb;
};

struct ClusterResult {
  int nodes = 0;
  size_t models = 0;
  uint64_t invocations = 0;
  double span_s = 0.0;
  SideResult thaw, knative;
  double runtime_s = 0.0;
};

// Replays `trace` over opts.nodes nodes. Errors: a bad policy spec, or a node's replay failing.
Result<ClusterResult> simulate_cluster(const Trace& trace, const ClusterOptions& opts);

nlohmann::json to_json(const ClusterResult& r);

}  // namespace thaw::sim
