#include "cache/retry.h"

#include <vector>

#include <gtest/gtest.h>

namespace thaw::cache {
namespace {

using namespace std::chrono_literals;

// Sleeping advances the test's clock instead of waiting.
class ClockSleeper final : public Sleeper {
 public:
  explicit ClockSleeper(ManualClock& clock) : clock_(clock) {}
  void sleep_for(Nanos d) override {
    slept.push_back(d);
    clock_.advance(d);
  }
  std::vector<Nanos> slept;

 private:
  ManualClock& clock_;
};

TEST(RetryTest, BackoffGrowsAndIsCapped) {
  Backoff b({.initial_backoff = 100ms, .max_backoff = 1s, .multiplier = 2.0, .jitter = 0.0}, 1);
  EXPECT_EQ(b.delay(1), Nanos(100ms));
  EXPECT_EQ(b.delay(2), Nanos(200ms));
  EXPECT_EQ(b.delay(3), Nanos(400ms));
  EXPECT_EQ(b.delay(10), Nanos(1s));
}

TEST(RetryTest, JitterStaysInRangeAndIsSeeded) {
  RetryPolicy p{.initial_backoff = 100ms, .jitter = 0.5};
  Backoff a(p, 7), b(p, 7);
  for (int i = 0; i < 50; ++i) {
    Nanos d = a.delay(1);
    EXPECT_EQ(d, b.delay(1));
    EXPECT_GE(d, Nanos(50ms));
    EXPECT_LE(d, Nanos(150ms));
  }
}

TEST(RetryTest, RetriesTransientFailuresThenSucceeds) {
  ManualClock clock;
  ClockSleeper sleeper(clock);
  Backoff backoff({.max_attempts = 5, .jitter = 0.0}, 1);
  int seen_retries = 0;
  auto r = retry<int>(backoff, clock, sleeper, [](int attempt) -> Result<int> {
    if (attempt < 3) return make_error(Code::kUnavailable, "connection refused");
    return attempt;
  }, [&](const Status&) { ++seen_retries; });
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(seen_retries, 2);
  ASSERT_EQ(sleeper.slept.size(), 2u);
  EXPECT_EQ(sleeper.slept[0], Nanos(100ms));
  EXPECT_EQ(sleeper.slept[1], Nanos(200ms));
}

TEST(RetryTest, PermanentFailuresAreNotRetried) {
  ManualClock clock;
  ClockSleeper sleeper(clock);
  Backoff backoff({}, 1);
  int calls = 0;
  auto r = retry<int>(backoff, clock, sleeper, [&](int) -> Result<int> {
    ++calls;
    return make_error(Code::kNotFound, "no such model");
  });
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(calls, 1);
}

TEST(RetryTest, StopsAtMaxAttemptsAndAtTheDeadline) {
  ManualClock clock;
  ClockSleeper sleeper(clock);
  Backoff backoff({.max_attempts = 3, .jitter = 0.0}, 1);
  int calls = 0;
  auto r = retry<int>(backoff, clock, sleeper, [&](int) -> Result<int> {
    ++calls;
    return make_error(Code::kDeadlineExceeded, "slow");
  });
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(calls, 3);

  Backoff tight({.max_attempts = 100, .initial_backoff = 1s, .multiplier = 1.0, .jitter = 0.0,
                 .deadline = 3500ms}, 1);
  calls = 0;
  r = retry<int>(tight, clock, sleeper, [&](int) -> Result<int> {
    ++calls;
    clock.advance(100ms);  // each attempt takes time too
    return make_error(Code::kUnavailable, "down");
  });
  EXPECT_FALSE(r.is_ok());
  EXPECT_EQ(calls, 4);
}

}  // namespace
}  // namespace thaw::cache
