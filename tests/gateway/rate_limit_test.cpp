#include "gateway/rate_limit.h"

#include <gtest/gtest.h>

namespace thaw::gateway {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucket, AllowsTheBurstThenOneRequestPerInterval) {
  TokenBucket b(4, 3);  // 4/s, bursts of 3
  const Nanos t0{1'000'000'000};
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  auto wait = b.take(t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, milliseconds(250));
  EXPECT_TRUE(b.take(t0 + milliseconds(125))) << "half a token is not a token";
  EXPECT_FALSE(b.take(t0 + milliseconds(250)));
  EXPECT_TRUE(b.take(t0 + milliseconds(250)));
}

TEST(TokenBucket, RefillsNoFurtherThanTheBurst) {
  TokenBucket b(1, 2);
  const Nanos t0{0};
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0 + std::chrono::hours(1)));
  EXPECT_FALSE(b.take(t0 + std::chrono::hours(1)));
  EXPECT_TRUE(b.take(t0 + std::chrono::hours(1))) << "an idle hour is worth the burst, not 3600 requests";
}

TEST(TokenBucket, ARateOfZeroIsNoLimit) {
  TokenBucket b(0, 0);
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(b.take(Nanos{0}));
}

TEST(TokenBucket, TimeGoingBackwardsGivesNothingBack) {
  TokenBucket b(1, 1);
  EXPECT_FALSE(b.take(Nanos{5'000'000'000}));
  EXPECT_TRUE(b.take(Nanos{1'000'000'000}));
  EXPECT_TRUE(b.take(Nanos{5'500'000'000}));
  EXPECT_FALSE(b.take(Nanos{6'000'000'000}));
}

}  // namespace
}  // namespace thaw::gateway
