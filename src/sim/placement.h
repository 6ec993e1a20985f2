// Which node of a cluster serves each model: consistent hashing with bounded loads (Mirrokni,
// Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018), the load being a
// model's expected memory.
//
// Why this rule: a model keeps its node while nodes come and go (adding the (N+1)th node moves
// about 1/(N+1) of the models, removing one moves only that node's), so the node's page cache,
// zygotes and warm instances for the model stay where its requests land; and no node takes more
// than (1 + epsilon) times the average load, so one node's ladder does not get the heavy models by
// chance while another's stays empty. A model whose first node is full spills clockwise to the next
// node on the ring with room (memory-aware spill).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace thaw::sim {

struct PlacementOptions {
  int nodes = 1;
  int virtual_nodes = 64;  // ring points per node: smooths the hash's share of each node
  double epsilon = 0.25;   // a node's load stays within (1 + epsilon) x the average
  uint64_t seed = 1;       // ring positions (the same seed places the same way)
};

struct PlacedModel {
  std::string id;
  double load = 0.0;  // expected memory, MB (see model_load)
};

// A model's expected memory in MB: its memory times (1 + its mean concurrency), the concurrency
// being the time its requests run (sum of durations) over the trace's span. A model that is rarely busy
// weighs its instance; a busy one the instances its requests keep live.
double model_load(double memory_mb, double busy_seconds, double span_seconds);

// The node (0..nodes-1) of each model, in input order. Deterministic for a seed; models are placed
// in order of decreasing load (ties by id) so the bound is met by the big ones first.
std::vector<int> place_models(const std::vector<PlacedModel>& models, const PlacementOptions& opts);

// The node a model hashes to with no load bound (its first ring point clockwise): where it would
// go in an empty cluster. place_models() starts its walk there.
int ring_node(const std::string& id, const PlacementOptions& opts);

}  // namespace thaw::sim
