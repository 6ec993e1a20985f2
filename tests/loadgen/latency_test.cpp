#include "loadgen/latency.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace thaw::loadgen {
namespace {

TEST(NearestRank, OneToOneThousand) {
  std::vector<int64_t> v(1000);
  std::iota(v.begin(), v.end(), 1);
  EXPECT_EQ(nearest_rank(v, 0), 1);
  EXPECT_EQ(nearest_rank(v, 50), 500);
  EXPECT_EQ(nearest_rank(v, 90), 900);
  EXPECT_EQ(nearest_rank(v, 99), 990);
  EXPECT_EQ(nearest_rank(v, 99.9), 999);  // no floating-point rounding up to 1000
  EXPECT_EQ(nearest_rank(v, 100), 1000);
}

TEST(NearestRank, SmallSamplesRoundTheRankUp) {
  std::vector<int64_t> v = {10, 20, 30, 40};
  EXPECT_EQ(nearest_rank(v, 25), 10);  // rank 1
  EXPECT_EQ(nearest_rank(v, 26), 20);  // rank ceil(1.04) = 2
  EXPECT_EQ(nearest_rank(v, 50), 20);
  EXPECT_EQ(nearest_rank(v, 51), 30);
  EXPECT_EQ(nearest_rank(v, 99), 40);
  std::vector<int64_t> one = {7};
  EXPECT_EQ(nearest_rank(one, 0), 7);
  EXPECT_EQ(nearest_rank(one, 99.9), 7);
}

TEST(Summarize, EmptyIsAllZero) {
  std::vector<int64_t> none;
  LatencySummary s = summarize(none);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(s.max, 0);
}

TEST(Summarize, UnsortedInputAgreesWithASortedCopy) {
  std::mt19937_64 rng(3);
  std::vector<int64_t> v(12345);
  for (auto& x : v) x = static_cast<int64_t>(rng() % 1'000'000);
  std::vector<int64_t> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  LatencySummary s = summarize(v);
  EXPECT_EQ(s.count, 12345u);
  EXPECT_EQ(s.min, sorted.front());
  EXPECT_EQ(s.max, sorted.back());
  // ceil(0.5 * 12345) = 6173, ceil(0.999 * 12345) = 12333 (1-based).
  EXPECT_EQ(s.p50, sorted[6172]);
  EXPECT_EQ(s.p999, sorted[12332]);
  double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
  EXPECT_NEAR(s.mean, mean, 1e-6 * mean);
  EXPECT_LE(s.p50, s.p90);
  EXPECT_LE(s.p90, s.p99);
  EXPECT_LE(s.p99, s.p999);
  EXPECT_LE(s.p999, s.max);
}

}  // namespace
}  // namespace thaw::loadgen
