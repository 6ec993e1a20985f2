#include "gateway/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace thaw::gateway {

TokenBucket::TokenBucket(double rate_per_second, double burst)
    : rate_(rate_per_second), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)) {}

std::optional<Nanos> TokenBucket::take(Nanos now) {
  if (rate_ <= 0) return std::nullopt;
  std::lock_guard lock(mu_);
  if (last_ && now > *last_) tokens_ = std::min(burst_, tokens_ + to_seconds(now - *last_) * rate_);
  if (!last_ || now > *last_) last_ = now;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  return Nanos(static_cast<int64_t>(std::ceil((1.0 - tokens_) / rate_ * 1e9)));
}

}  // namespace thaw::gateway
