// Retries with exponential backoff and seeded jitter, on an injected Clock and Sleeper so tests
// and the simulator never wait for real. Only transient failures are retried.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/status.h"

namespace thaw::cache {

struct RetryPolicy {
  int max_attempts = 4;          // first try included
  Nanos initial_backoff = std::chrono::milliseconds(100);
  Nanos max_backoff = std::chrono::seconds(2);
  double multiplier = 2.0;
  double jitter = 0.2;           // each delay is scaled by a factor in [1 - jitter, 1 + jitter]
  Nanos deadline = std::chrono::seconds(60);  // no new attempt starts after this much time
};

// Sleeps for a duration; tests replace it with one that advances a ManualClock.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void sleep_for(Nanos d) = 0;
};
class RealSleeper final : public Sleeper {
 public:
  void sleep_for(Nanos d) override { std::this_thread::sleep_for(d); }
};

// Timeouts, refused or broken connections, 5xx and bytes that fail their hash are transient;
// not-found, bad requests and unsupported answers are not.
bool is_transient(const Status& status);

class Backoff {
 public:
  Backoff(RetryPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {}
  // Delay before retry number `retry` (1 = the first retry).
  Nanos delay(int retry);
  const RetryPolicy& policy() const { return policy_; }

 private:
  RetryPolicy policy_;
  std::mt19937_64 rng_;
};

// Calls `fn(attempt)` (attempt from 1) until it succeeds, fails for good, runs out of attempts or
// the policy's deadline passes. `on_retry` (optional) hears each failure that will be retried.
template <typename T>
Result<T> retry(Backoff& backoff, const Clock& clock, Sleeper& sleeper,
                const std::function<Result<T>(int)>& fn,
                const std::function<void(const Status&)>& on_retry = {}) {
  const Nanos start = clock.now();
  for (int attempt = 1;; ++attempt) {
    Result<T> r = fn(attempt);
    if (r.is_ok() || !is_transient(r.status()) || attempt >= backoff.policy().max_attempts) return r;
    Nanos wait = backoff.delay(attempt);
    if (clock.now() - start + wait > backoff.policy().deadline)
      return r.status().with_context(fmt::format("gave up after {} attempts", attempt));
    if (on_retry) on_retry(r.status());
    sleeper.sleep_for(wait);
  }
}

}  // namespace thaw::cache
