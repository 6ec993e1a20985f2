#include "loadgen/latency.h"

#include <algorithm>
#include <cmath>

namespace thaw::loadgen {

int64_t nearest_rank(const std::vector<int64_t>& sorted, double p) {
  const size_t n = sorted.size();
  // Integer arithmetic on per-mille-of-a-percent units keeps p = 99.9 from rounding up a rank.
  const auto p_units = static_cast<uint64_t>(std::llround(std::clamp(p, 0.0, 100.0) * 1000.0));
  uint64_t rank = (p_units * n + 100'000 - 1) / 100'000;  // ceil(p/100 * n)
  rank = std::clamp<uint64_t>(rank, 1, n);
  return sorted[rank - 1];
}

LatencySummary summarize(std::vector<int64_t>& samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.count = samples.size();
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = nearest_rank(samples, 50);
  s.p90 = nearest_rank(samples, 90);
  s.p99 = nearest_rank(samples, 99);
  s.p999 = nearest_rank(samples, 99.9);
  long double total = 0;
  for (int64_t v : samples) total += v;
  s.mean = static_cast<double>(total / static_cast<long double>(samples.size()));
  return s;
}

}  // namespace thaw::loadgen
