// A token bucket: `rate` requests a second on average, bursts of up to `burst`. Time comes from
// the caller (an injected Clock's now()), so tests step it. Thread-safe.
#pragma once

#include <mutex>
#include <optional>

#include "common/clock.h"

namespace thaw::gateway {

class TokenBucket {
 public:
  // rate <= 0: no limit. burst < 1 is taken as 1.
  TokenBucket(double rate_per_second, double burst);
  // Takes one token: nullopt when taken, else how long until the next one is due.
  std::optional<Nanos> take(Nanos now);

 private:
  const double rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_;                 // guarded by mu_
  std::optional<Nanos> last_;     // guarded by mu_
};

}  // namespace thaw::gateway
