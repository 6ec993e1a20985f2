#include <gtest/gtest.h>

#include "driver.h"
#include "policy/ladder.h"

namespace thaw::policy {
namespace {

using testing::count_rung;
using testing::drive;
using testing::every;

LadderPolicy make(double lambda) {
  LadderConfig c;
  c.lambda = lambda;
  LadderPolicy p(c, RungProfile{});
  p.add_app(0, AppInfo{1024.0});
  return p;
}

TEST(Ladder, StrictTimerPrewarmsACheapRungJustBeforeTheArrival) {
  LadderPolicy p = make(1e5);
  auto found = drive(p, 0, every(30, 60));
  for (size_t i = 5; i < found.size(); ++i) EXPECT_FALSE(is_expensive(found[i])) << i;
  const IdlePlan& plan = p.on_idle(0, minutes(60 * 30));
  EXPECT_EQ(plan.rung_at(minutes(5)), Rung::kDisk);  // nothing arrives early: hold nothing
  EXPECT_FALSE(is_expensive(plan.rung_at(minutes(30))));
  EXPECT_EQ(plan.rung_at(minutes(200)), Rung::kDisk);
}

TEST(Ladder, AModelsOwnMeasuredCostsReplaceTheGlobalOnes) {
  LadderPolicy p = make(1e5);
  drive(p, 0, every(30, 60));
  EXPECT_FALSE(is_expensive(p.on_idle(0, minutes(60 * 30)).rung_at(minutes(30))));
  // Measured: this model starts from disk as fast as from anything else, so nothing is worth holding.
  RungProfile flat;
  flat.latency_ms = {0.0, 0.0, 0.0, 0.0};
  p.add_app(0, AppInfo{1024.0, flat});
  drive(p, 0, {60 * 30 + 30.0});
  EXPECT_EQ(p.on_idle(0, minutes(60 * 30 + 30)).rung_at(minutes(30)), Rung::kDisk);
}

TEST(Ladder, AModelWithoutALocalCopyPricesAColdStartAtTheRegistryRung) {
  // The same arrivals; one model falls to disk, the other to a registry a minute away: the second
  // is worth holding (the page cache before it arrives), so it falls to the bottom less often.
  RungProfile far;
  far.latency_ms[index(Rung::kRegistry)] = 60'000;
  LadderConfig c;
  c.lambda = 100.0;
  LadderPolicy disk(c, far), registry(c, far);
  disk.add_app(0, AppInfo{1024.0});
  AppInfo fetched{1024.0};
  fetched.floor = Rung::kRegistry;
  registry.add_app(0, fetched);
  std::vector<double> arrivals;
  for (int i = 0; i < 200; ++i) arrivals.push_back(i * 45.0 + (i % 7) * 5.0);
  auto on_disk = drive(disk, 0, arrivals), on_registry = drive(registry, 0, arrivals);
  // An idle plan never names the registry rung: holding nothing is kDisk in both.
  EXPECT_LT(count_rung(on_registry, Rung::kDisk), count_rung(on_disk, Rung::kDisk) / 2);
}

TEST(Ladder, ZeroPriceOfLatencyHoldsNothing) {
  LadderPolicy p = make(0.0);
  auto found = drive(p, 0, every(5, 100));
  EXPECT_EQ(count_rung(found, Rung::kDisk), 100);
}

TEST(Ladder, HigherPriceNeverHoldsCheaperRungs) {
  // Poisson-like idle times: a higher lambda moves every minute up the ladder or keeps it.
  std::vector<double> t{0.0};
  uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = static_cast<double>(x >> 11) * 0x1.0p-53;
    t.push_back(t.back() + std::min(-20.0 * std::log(1.0 - u), 500.0));
  }
  LadderPolicy lo = make(100.0), hi = make(100000.0);
  drive(lo, 0, t);
  drive(hi, 0, t);
  const IdlePlan& a = lo.on_idle(0, minutes(t.back()));
  const IdlePlan& b = hi.on_idle(0, minutes(t.back()));
  for (int m = 0; m < 240; ++m) EXPECT_LE(index(b.rung_at(minutes(m + 0.5))), index(a.rung_at(minutes(m + 0.5)))) << m;
  // With memoryless arrivals the hazard is flat: a high price keeps a resident rung throughout.
  EXPECT_NE(b.rung_at(minutes(100)), Rung::kDisk);
}

TEST(Ladder, OneCallADayHoldsNothingInRange) {
  LadderPolicy p = make(1e5);
  drive(p, 0, every(1440, 10));
  const IdlePlan& plan = p.on_idle(0, minutes(14400));
  EXPECT_EQ(plan.rung_at(minutes(60)), Rung::kDisk);
}

TEST(Ladder, BudgetLowersTheEffectivePrice) {
  LadderConfig c;
  c.lambda = 1e6;
  c.budget_gb = 0.001;  // far below what one 1 GB app kept warm uses
  LadderPolicy p(c, RungProfile{});
  p.add_app(0, AppInfo{1024.0});
  double before = p.effective_lambda();
  for (int k = 0; k < 400; ++k) {
    p.on_invocation(0, minutes(3 * k));
    p.on_idle(0, minutes(3 * k));
    p.tick(minutes(3 * k + 1));
    p.tick(minutes(3 * k + 2));
  }
  EXPECT_EQ(before, 1e6);
  EXPECT_LT(p.effective_lambda(), 1e6);
  // Without a budget the price never moves.
  LadderPolicy free = make(1e6);
  for (int k = 0; k < 100; ++k) {
    free.on_invocation(0, minutes(3 * k));
    free.on_idle(0, minutes(3 * k));
    free.tick(minutes(3 * k + 2));
  }
  EXPECT_EQ(free.effective_lambda(), 1e6);
}

}  // namespace
}  // namespace thaw::policy
