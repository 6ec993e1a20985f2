// The pod autoscaler of the cluster simulation, in the two shapes it takes there:
//  - thaw's KEDA-like scaler of one node's thaw pods: at least one pod (the scaler lives in the pods,
//    deploy/ keeps minReplicaCount 1; models scale to zero inside a pod, on its ladder), the HPA
//    behind KEDA resizing every 15 s to ceil(demand / targetDemand), a pod removed once demand fits
//    in one pod fewer for KEDA's cooldownPeriod;
//  - Knative's autoscaler of one model's pods: none at first, the activator starting one as soon as a
//    request finds none, resizing every 2 s to ceil(demand / target), the last pod going once no
//    request has come for the 60 s window.
// The scaler aims at `target_per_pod` requests per pod (demand = in flight + waiting). The target is
// soft by default, as Knative's with containerConcurrency 0 (its default) and KEDA's targetDemand
// are: a pod takes every request and the target only decides how many pods there are; a request
// waits only when its pods are at zero. With `hard_limit` a pod serves at most the target at once
// and a request beyond it waits for a slot or a new pod.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace thaw::sim {

struct PodScalerOptions {
  int min_pods = 1;
  int max_pods = 1000;
  int target_per_pod = 100;
  bool hard_limit = false;
  double sync_s = 15.0;              // how often the scaler resizes
  double pod_start_ms = 1500.0;      // used when start_ms is empty
  std::function<double()> start_ms;  // draws a pod start (ms); called once per pod, in order
  double first_request_ms = 0.0;     // added to requests a new pod serves at its start (loading)
  double cooldown_s = 300.0;         // demand fitting in one pod fewer for this long removes a pod
};

struct PodRequest {
  int64_t arrival_us;
  float duration_ms;
};

struct PodLifetime {
  int64_t start_us, end_us;
};

struct PodScalerResult {
  std::vector<float> wait_ms;  // per request, in input order: waiting for a pod (or a slot), + loading
  uint64_t pod_starts = 0;
  uint64_t waited = 0;       // requests with wait_ms > 0
  uint64_t from_zero = 0;    // requests that arrived with no pod ready (a scale from zero)
  double pod_seconds = 0.0;  // pods alive (starting included) x time
  int max_pods = 0;
  std::vector<PodLifetime> pods;  // every pod's life, start to removal (or the span's end)
};

// `requests` sorted by arrival; `span_us` the end of the accounting (the trace's horizon).
PodScalerResult scale_pods(const std::vector<PodRequest>& requests, int64_t span_us,
                           const PodScalerOptions& opts);

}  // namespace thaw::sim
