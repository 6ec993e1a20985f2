#include "sim/placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace thaw::sim {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash(const std::string& s, uint64_t seed) {  // FNV-1a, then mixed with the seed
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return mix(h ^ mix(seed));
}

struct Ring {
  std::vector<std::pair<uint64_t, int>> points;  // sorted by position

  explicit Ring(const PlacementOptions& o) {
    const int nodes = std::max(1, o.nodes), vn = std::max(1, o.virtual_nodes);
    points.reserve(static_cast<size_t>(nodes) * static_cast<size_t>(vn));
    for (int n = 0; n < nodes; ++n)
      for (int v = 0; v < vn; ++v)
        points.emplace_back(hash("node-" + std::to_string(n) + "#" + std::to_string(v), o.seed), n);
    std::sort(points.begin(), points.end());
  }
  size_t first(const std::string& id, uint64_t seed) const {
    const uint64_t h = hash(id, seed + 1);
    auto it = std::lower_bound(points.begin(), points.end(), std::make_pair(h, -1));
    return it == points.end() ? 0 : static_cast<size_t>(it - points.begin());
  }
};

}  // namespace

double model_load(double memory_mb, double busy_seconds, double span_seconds) {
  const double concurrency = span_seconds > 0 ? busy_seconds / span_seconds : 0.0;
  return memory_mb * (1.0 + concurrency);
}

int ring_node(const std::string& id, const PlacementOptions& opts) {
  Ring ring(opts);
  return ring.points[ring.first(id, opts.seed)].second;
}

std::vector<int> place_models(const std::vector<PlacedModel>& models, const PlacementOptions& opts) {
  const int nodes = std::max(1, opts.nodes);
  std::vector<int> out(models.size(), 0);
  if (nodes == 1 || models.empty()) return out;
  Ring ring(opts);
  double total = 0.0;
  for (const auto& m : models) total += std::max(0.0, m.load);
  const double cap = (1.0 + std::max(0.0, opts.epsilon)) * total / nodes;
  std::vector<size_t> order(models.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return models[a].load != models[b].load ? models[a].load > models[b].load : models[a].id < models[b].id;
  });
  std::vector<double> load(static_cast<size_t>(nodes), 0.0);
  for (size_t i : order) {
    const double w = std::max(0.0, models[i].load);
    size_t p = ring.first(models[i].id, opts.seed);
    int chosen = -1, least = ring.points[p].second;
    // Walk clockwise to the first node with room; a model bigger than any room goes to the least
    // loaded node met on the way (every node is met within one turn of the ring).
    for (size_t step = 0; step < ring.points.size(); ++step, p = (p + 1) % ring.points.size()) {
      const int n = ring.points[p].second;
      if (load[static_cast<size_t>(n)] + w <= cap) {
        chosen = n;
        break;
      }
      if (load[static_cast<size_t>(n)] < load[static_cast<size_t>(least)]) least = n;
    }
    if (chosen < 0) chosen = least;
    load[static_cast<size_t>(chosen)] += w;
    out[i] = chosen;
  }
  return out;
}

}  // namespace thaw::sim
