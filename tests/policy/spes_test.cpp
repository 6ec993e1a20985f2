#include "policy/spes.h"

#include <gtest/gtest.h>

#include "driver.h"

namespace thaw::policy {
namespace {

using testing::count_rung;
using testing::drive;
using testing::every;

// Arrivals separated by these gaps (minutes), starting at minute 0.
std::vector<double> gaps(const std::vector<double>& g, int repeat = 1) {
  std::vector<double> t{0.0};
  for (int r = 0; r < repeat; ++r)
    for (double d : g) t.push_back(t.back() + d);
  return t;
}

TEST(Spes, ATimerIsRegularAndPreloadedAroundEachPeriod) {
  Spes p;
  auto found = drive(p, 0, every(10, 12));  // WT 9 minutes each
  EXPECT_EQ(p.type(0), SpesType::kRegular);
  EXPECT_EQ(count_rung(found, Rung::kWarm, 4), 8) << "warm once three WTs are known";
  // Idle from minute 110: kept through the next minute, loaded two minutes either side of the
  // predicted minute 120, and again around 130 when that one is missed.
  const IdlePlan& plan = p.on_idle(0, minutes(110));
  EXPECT_EQ(plan.rung_at(minutes(1.5)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(2)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(7.9)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(8)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(12.9)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(13)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(20)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(25)), Rung::kDisk);
}

TEST(Spes, TooLittleHistoryIsUnknownAndKeptOneMinute) {
  Spes p;
  drive(p, 0, {0.0, 30.5});
  EXPECT_EQ(p.type(0), SpesType::kUnknown);
  // Idle at 30.5: kept until the end of minute 31.
  const IdlePlan& plan = p.on_idle(0, minutes(30.5));
  EXPECT_EQ(plan.rung_at(minutes(1.4)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(1.5)), Rung::kDisk);
}

TEST(Spes, InvokedEveryMinuteIsAlwaysWarm) {
  Spes p;
  drive(p, 0, every(0.5, 2 * 130));
  EXPECT_EQ(p.type(0), SpesType::kWarm);
  EXPECT_EQ(p.on_idle(0, minutes(130)).rung_at(minutes(5000)), Rung::kWarm);
}

TEST(Spes, FewWaitingTimesAreApproximatelyRegular) {
  Spes p;
  drive(p, 0, gaps({10, 30}, 4));  // WTs 9 and 29 in turn
  EXPECT_EQ(p.type(0), SpesType::kApproRegular);
  // Last call at minute 160: loaded around minutes 170 and 190, not between.
  const IdlePlan& plan = p.on_idle(0, minutes(160));
  EXPECT_EQ(plan.rung_at(minutes(10)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(20)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(30)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(40)), Rung::kDisk);
}

TEST(Spes, ShortWaitingTimesAreDenseAndKeptFiveMinutes) {
  Spes p;
  drive(p, 0, gaps({2, 2, 3, 4, 2, 5, 6, 2, 3, 31}));  // WTs 1 1 2 3 1 4 5 1 2 30
  EXPECT_EQ(p.type(0), SpesType::kDense);
  const IdlePlan& plan = p.on_idle(0, minutes(60));
  EXPECT_EQ(plan.rung_at(minutes(5.9)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(6)), Rung::kDisk);
}

TEST(Spes, RecurringWaitingTimesWithoutAPatternArePossible) {
  Spes p;
  drive(p, 0, gaps({11, 11, 51, 51, 201, 8, 14, 100, 301, 401}));
  EXPECT_EQ(p.type(0), SpesType::kPossible);
  // The recurring WTs 10 and 50 are 40 minutes apart: pre-loaded one by one.
  const double last = 11 + 11 + 51 + 51 + 201 + 8 + 14 + 100 + 301 + 401;
  const IdlePlan& plan = p.on_idle(0, minutes(last));
  EXPECT_EQ(plan.rung_at(minutes(11)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(30)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(51)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(60)), Rung::kDisk);
}

TEST(Spes, TheKeepAliveScaleStretchesEveryCategory) {
  Spes base, wide(SpesConfig{.giveup_scale = 4});
  drive(base, 0, {0.0, 30.5});
  drive(wide, 0, {0.0, 30.5});
  EXPECT_EQ(base.on_idle(0, minutes(30.5)).rung_at(minutes(3)), Rung::kDisk);
  EXPECT_EQ(wide.on_idle(0, minutes(30.5)).rung_at(minutes(3)), Rung::kWarm);
  EXPECT_EQ(wide.on_idle(0, minutes(30.5)).rung_at(minutes(4.5)), Rung::kDisk);
}

}  // namespace
}  // namespace thaw::policy
