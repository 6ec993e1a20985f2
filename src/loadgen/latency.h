// Latency percentiles computed exactly from every sample (no histogram buckets), so the tail of
// a short benchmark is the real tail.
#pragma once

#include <cstdint>
#include <vector>

namespace thaw::loadgen {

struct LatencySummary {
  uint64_t count = 0;
  // Nanoseconds; all zero when count == 0.
  int64_t min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double mean = 0;
};

// The nearest-rank percentile of sorted samples: the smallest sample such that at least p% of
// all samples are <= it, i.e. sorted[ceil(p/100 * n) - 1] (p = 0 gives the minimum). Requires a
// non-empty, ascending `sorted` and 0 <= p <= 100.
int64_t nearest_rank(const std::vector<int64_t>& sorted, double p);

// Sorts `samples` in place and summarises them.
LatencySummary summarize(std::vector<int64_t>& samples);

}  // namespace thaw::loadgen
