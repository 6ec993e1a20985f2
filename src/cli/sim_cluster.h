// `thaw sim --nodes`: the cluster simulation's flags and its run (src/sim/cluster.h).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace thaw::cli {

struct ClusterArgs {
  std::vector<int> nodes;               // empty: no cluster simulation
  std::vector<size_t> models;           // model counts (grown from the trace); empty: the trace's
  double node_memory_gb = 64.0;
  double minutes = 0.0;                 // replay only the first minutes (0: all)
  double thaw_start_ms = 250.0;         // thaw serve start to ready (bench/cluster_sim.sh measures it)
  double k8s_pod_start_ms = 800.0;      // Kubernetes' part of a pod start (assumed)
  double pod_base_mb = 30.0;
  int pod_target = 100;
  bool pod_hard_limit = false;
  double keda_cooldown_s = 300.0;
  double hpa_sync_s = 15.0;
  double knative_window_s = 60.0;
  double knative_start_min_ms = 800.0, knative_start_max_ms = 4000.0;
  double knative_pod_overhead_mb = 30.0;
};

// Adds the cluster flags to `sim`.
void add_cluster_flags(CLI::App& sim, ClusterArgs& a);

// Runs every (nodes, models) pair; prints a table, writes JSON to json_out and the plot to plot_out
// when given. Returns the exit code.
int run_cluster(const ClusterArgs& a, const std::string& trace_path, const std::string& policy,
                const std::string& profile_path, uint64_t seed, double default_memory_mb, int threads,
                const std::string& json_out, const std::string& plot_out);

}  // namespace thaw::cli
