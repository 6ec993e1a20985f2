#include "policy/idle_histogram.h"

#include <cmath>

namespace thaw::policy {

void IdleHistogram::add(Nanos idle) {
  int64_t bin = idle.count() < 0 ? 0 : idle.count() / 60'000'000'000LL;
  if (bin >= static_cast<int64_t>(bins_.size())) {
    ++oob_;
    return;
  }
  ++bins_[bin];
  ++in_range_;
}

int IdleHistogram::percentile_bin(double q) const {
  if (in_range_ == 0) return 0;
  // Smallest bin whose cumulative count reaches q of the total (at least one sample).
  double need = std::max(1.0, std::ceil(q * static_cast<double>(in_range_)));
  uint64_t cum = 0;
  for (size_t b = 0; b < bins_.size(); ++b) {
    cum += bins_[b];
    if (static_cast<double>(cum) >= need) return static_cast<int>(b);
  }
  return static_cast<int>(bins_.size()) - 1;
}

double IdleHistogram::bin_count_cv() const {
  double n = static_cast<double>(bins_.size());
  double mean = static_cast<double>(in_range_) / n;
  if (mean == 0.0) return 0.0;
  double var = 0.0;
  for (uint64_t c : bins_) var += (static_cast<double>(c) - mean) * (static_cast<double>(c) - mean);
  return std::sqrt(var / n) / mean;
}

}  // namespace thaw::policy
