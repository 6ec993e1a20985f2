#include "cache/retry.h"

#include <cmath>

namespace thaw::cache {

bool is_transient(const Status& status) {
  switch (status.code()) {
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kCorrupt:
    case Code::kIo:
      return true;
    default:
      return false;
  }
}

Nanos Backoff::delay(int retry) {
  double base = static_cast<double>(policy_.initial_backoff.count()) *
                std::pow(policy_.multiplier, std::max(0, retry - 1));
  base = std::min(base, static_cast<double>(policy_.max_backoff.count()));
  double j = std::clamp(policy_.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> factor(1.0 - j, 1.0 + j);
  return Nanos(static_cast<int64_t>(base * factor(rng_)));
}

}  // namespace thaw::cache
