// Idle-time histogram of one app: 1-minute bins over a fixed range, plus a count of idle times
// past the range ("out of bounds"), as in Shahrad et al. (ATC 2020), Section 4.2.
#pragma once

#include <cstdint>
#include <vector>

#include "common/clock.h"

namespace thaw::policy {

class IdleHistogram {
 public:
  explicit IdleHistogram(int range_minutes = 240) : bins_(range_minutes, 0) {}

  void add(Nanos idle);
  int range_minutes() const { return static_cast<int>(bins_.size()); }
  uint64_t count(int bin) const { return bins_[bin]; }
  uint64_t in_range() const { return in_range_; }
  uint64_t out_of_bounds() const { return oob_; }
  uint64_t total() const { return in_range_ + oob_; }

  // The bin (minutes) holding the q-th quantile (0..1) of the in-range idle times.
  int percentile_bin(double q) const;
  // Coefficient of variation of the bin counts: high means the idle times concentrate in a few
  // bins (a pattern), near zero means they spread evenly (no pattern).
  double bin_count_cv() const;

 private:
  std::vector<uint64_t> bins_;
  uint64_t in_range_ = 0;
  uint64_t oob_ = 0;
};

}  // namespace thaw::policy
