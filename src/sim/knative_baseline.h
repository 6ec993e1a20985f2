// The Knative-like baseline of the cluster simulation: pods of one model each (never shared), the
// first started when a request finds none (a scale from zero: a pod start drawn uniformly from
// [pod_start_min, pod_start_max], then the model's load), more when its demand passes `target` per
// pod (Knative's container-concurrency-target-default, 100), resized every 2 s, and removed once
// demand fits in one pod fewer for `window` (the last one: no request for the window; Knative's
// scale to zero after its 60 s stable window). sim/pod_scaler.h carries it out. Pods go to the node
// with the least memory allocated when they start (kube-scheduler's LeastAllocated).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/trace.h"

namespace thaw::sim {

struct KnativeOptions {
  int nodes = 1;
  double node_memory_gb = 64.0;
  double window_s = 60.0;           // no request for this long: the pod is removed
  int target = 100;                 // requests per pod
  bool hard_limit = false;          // the target caps a pod's requests (containerConcurrency = target)
  double sync_s = 2.0;              // the autoscaler's tick
  double pod_start_min_ms = 800.0;  // pod start (schedule, sandbox, container, readiness)
  double pod_start_max_ms = 4000.0;
  double model_load_ms = 400.0;  // loading the model once the container runs (the profile's disk rung)
  double pod_overhead_mb = 0.0;  // per pod beyond the model (runtime, queue-proxy sidecar)
  double warm_fraction = 1.0;    // a loaded model's memory as a fraction of its memory_mb
  // Memory of a pod: the model's (warm_fraction x memory_mb) in the first pod of a model, only the
  // overhead in its others (the same accounting as thaw's side, which counts a busy model once).
  uint64_t seed = 1;
};

struct KnativeResult {
  uint64_t invocations = 0;
  uint64_t pod_starts = 0;      // scale-from-zero events
  uint64_t cold_requests = 0;   // requests that arrived with no pod of their model ready
  uint64_t waited = 0;          // requests that waited for any reason (a pod from zero, a slot, an added pod)
  std::vector<float> added_ms;  // per request (app order, then arrival order)
  std::vector<double> node_gb_s;  // memory allocated per node, GB*s
  std::vector<double> node_peak_gb;
  uint64_t overcommitted_pods =
      0;  // pods that found no node with room (placed on the least allocated anyway)
  double span_s = 0.0;
};

KnativeResult simulate_knative(const Trace& trace, const KnativeOptions& opts);

}  // namespace thaw::sim
