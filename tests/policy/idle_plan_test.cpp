#include <gtest/gtest.h>

#include "policy/idle_plan.h"
#include "policy/policy.h"

namespace thaw::policy {
namespace {

TEST(IdlePlan, StepsAndLookups) {
  IdlePlan p(Rung::kWarm);
  p.then(minutes(2), Rung::kZygote).then(minutes(10), Rung::kPageCache).then(minutes(30), Rung::kDisk);
  EXPECT_EQ(p.rung_at(Nanos{0}), Rung::kWarm);
  EXPECT_EQ(p.rung_at(minutes(1.99)), Rung::kWarm);
  EXPECT_EQ(p.rung_at(minutes(2)), Rung::kZygote);
  EXPECT_EQ(p.rung_at(minutes(29)), Rung::kPageCache);
  EXPECT_EQ(p.rung_at(minutes(1e4)), Rung::kDisk);
  EXPECT_EQ(p.next_change(Nanos{0}), minutes(2));
  EXPECT_EQ(p.next_change(minutes(10)), minutes(30));
  EXPECT_FALSE(p.next_change(minutes(30)).has_value());
}

TEST(IdlePlan, MergesEqualNeighbours) {
  IdlePlan p(Rung::kDisk);
  p.then(minutes(1), Rung::kDisk).then(minutes(5), Rung::kWarm).then(minutes(5), Rung::kDisk);
  EXPECT_EQ(p.steps().size(), 1u);
  p.hold(minutes(3), minutes(3), Rung::kWarm, Rung::kDisk);  // empty hold adds nothing
  EXPECT_EQ(p.steps().size(), 1u);
  p.hold(minutes(3), minutes(4), Rung::kWarm, Rung::kDisk);
  EXPECT_EQ(p.steps().size(), 3u);
}

TEST(IdlePlan, SecondsAtRungsAddUpToTheInterval) {
  IdlePlan p(Rung::kDisk);
  p.hold(minutes(5), minutes(8), Rung::kWarm, Rung::kZygote).then(minutes(20), Rung::kDisk);
  auto s = p.seconds_at_rungs(minutes(10));
  EXPECT_DOUBLE_EQ(s[index(Rung::kDisk)], 300.0);
  EXPECT_DOUBLE_EQ(s[index(Rung::kWarm)], 180.0);
  EXPECT_DOUBLE_EQ(s[index(Rung::kZygote)], 120.0);
  auto all = p.seconds_at_rungs(minutes(100));
  EXPECT_DOUBLE_EQ(all[0] + all[1] + all[2] + all[3], 6000.0);
  auto none = p.seconds_at_rungs(Nanos{0});
  EXPECT_DOUBLE_EQ(none[0] + none[1] + none[2] + none[3], 0.0);
}

}  // namespace
}  // namespace thaw::policy
