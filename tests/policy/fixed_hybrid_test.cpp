#include <random>

#include <gtest/gtest.h>

#include "driver.h"
#include "policy/ar_forecast.h"
#include "policy/fixed_keepalive.h"
#include "policy/hybrid_histogram.h"
#include "policy/idle_histogram.h"

namespace thaw::policy {
namespace {

using testing::count_rung;
using testing::drive;
using testing::every;

TEST(FixedKeepAlive, StrictTimerIsWarmOnlyWhenThePeriodFits) {
  FixedKeepAlive ten(10), four(4);
  auto a = drive(ten, 0, every(5, 50));
  auto b = drive(four, 0, every(5, 50));
  EXPECT_EQ(count_rung(a, Rung::kWarm), 49);  // all but the first
  EXPECT_EQ(count_rung(b, Rung::kDisk), 50);
}

TEST(FixedKeepAlive, OneCallADayIsAlwaysCold) {
  FixedKeepAlive twenty(20);
  EXPECT_EQ(count_rung(drive(twenty, 0, every(1440, 7)), Rung::kDisk), 7);
}

TEST(IdleHistogram, PercentilesAndCv) {
  IdleHistogram h(240);
  for (int i = 0; i < 100; ++i) h.add(minutes(30.5));
  EXPECT_EQ(h.percentile_bin(0.05), 30);
  EXPECT_EQ(h.percentile_bin(0.99), 30);
  EXPECT_GT(h.bin_count_cv(), 10.0);  // all mass in one of 240 bins
  h.add(minutes(500));
  EXPECT_EQ(h.out_of_bounds(), 1u);
  IdleHistogram flat(240);
  for (int b = 0; b < 240; ++b) flat.add(minutes(b + 0.5));
  EXPECT_NEAR(flat.bin_count_cv(), 0.0, 1e-12);
}

TEST(ArForecast, FollowsAStableSeries) {
  ArForecast f;
  for (int i = 0; i < 10; ++i) f.add(1440.0);
  EXPECT_NEAR(f.next_minutes(), 1440.0, 1.0);
  ArForecast g;
  g.add(300.0);
  EXPECT_NEAR(g.next_minutes(), 300.0, 1e-9);  // too short to fit: the last value
}

TEST(HybridHistogram, StrictTimerPrewarmsFromHeadAndKeepsToTail) {
  HybridHistogram h;
  auto found = drive(h, 0, every(30, 40));
  EXPECT_EQ(h.mode(0), HybridHistogram::Mode::kHistogram);
  // After the first few idle times the window [0.9 * 30, 1.1 * 31) covers every arrival.
  EXPECT_EQ(count_rung(found, Rung::kWarm, 2), static_cast<int>(found.size()) - 2);
  const IdlePlan& plan = h.on_idle(0, minutes(40 * 30));
  EXPECT_EQ(plan.rung_at(minutes(10)), Rung::kDisk);  // unloaded: pre-warm window
  EXPECT_EQ(plan.rung_at(minutes(27)), Rung::kWarm);  // floor(30 * 0.9)
  EXPECT_EQ(plan.rung_at(minutes(34)), Rung::kWarm);  // ceil(31 * 1.1) = 35
  EXPECT_EQ(plan.rung_at(minutes(35)), Rung::kDisk);
}

TEST(HybridHistogram, PoissonArrivalsAreNotRepresentative) {
  // Exponential idle times with a 60-minute mean spread over the whole range: low bin-count CV,
  // so the policy falls back to keeping warm over the whole range.
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> gap(1.0 / 60.0);
  std::vector<double> t{0.0};
  for (int i = 0; i < 3000; ++i) t.push_back(t.back() + std::min(gap(rng), 239.0));
  HybridHistogram h;
  drive(h, 0, t);
  h.on_idle(0, minutes(t.back()));
  EXPECT_EQ(h.mode(0), HybridHistogram::Mode::kFallback);
  EXPECT_EQ(h.on_idle(0, minutes(t.back())).rung_at(minutes(200)), Rung::kWarm);
}

TEST(HybridHistogram, OneCallADayUsesTheForecast) {
  HybridHistogram h;
  auto found = drive(h, 0, every(1440, 10));
  EXPECT_EQ(h.mode(0), HybridHistogram::Mode::kForecast);
  // Pre-warmed 15 % before the forecast arrival: the later calls are warm.
  EXPECT_EQ(count_rung(found, Rung::kWarm, 3), 7);
  const IdlePlan& plan = h.on_idle(0, minutes(10 * 1440));
  EXPECT_EQ(plan.rung_at(minutes(600)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(1440)), Rung::kWarm);
}

TEST(HybridHistogram, BurstsArePrewarmed) {
  // Bursts of 10 calls in one minute every 2 hours: idle times are 0 (within a burst) or ~120
  // minutes. The tail covers the gap between bursts.
  std::vector<double> t;
  for (int b = 0; b < 30; ++b)
    for (int k = 0; k < 10; ++k) t.push_back(b * 120.0 + k * 0.05);
  HybridHistogram h;
  auto found = drive(h, 0, t);
  int cold_later = 0;
  for (size_t i = 50; i < found.size(); ++i) cold_later += found[i] != Rung::kWarm;
  EXPECT_EQ(cold_later, 0);
}

}  // namespace
}  // namespace thaw::policy
