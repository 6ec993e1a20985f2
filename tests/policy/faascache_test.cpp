#include "policy/faascache.h"

#include <gtest/gtest.h>

namespace thaw::policy {
namespace {

// Three 1 GB models under the built-in profile; the cache holds two.
FaasCache make(double capacity_gb = 2.0) {
  FaasCache p(FaasCacheConfig{capacity_gb}, RungProfile{});
  for (AppId a = 0; a < 3; ++a) p.add_app(a, AppInfo{1024.0});
  return p;
}

void call(FaasCache& p, AppId app, double minute) {
  p.on_invocation(app, minutes(minute));
  p.on_idle(app, minutes(minute));
}

TEST(FaasCache, KeepsEveryModelWarmWhileTheyFit) {
  FaasCache p = make(3.0);
  for (AppId a = 0; a < 3; ++a) call(p, a, a);
  for (AppId a = 0; a < 3; ++a) EXPECT_EQ(p.on_idle(a, minutes(10)).rung_at(minutes(1000)), Rung::kWarm);
  std::vector<PlanRevision> revised;
  p.take_revisions(revised);
  EXPECT_TRUE(revised.empty());
  EXPECT_DOUBLE_EQ(p.used_gb(), 3.0);
}

TEST(FaasCache, AMissEvictsTheIdleModelOfLowestPriorityAndRevisesItsPlan) {
  FaasCache p = make();
  call(p, 0, 0);
  call(p, 0, 1);  // model 0: two requests, priority 2 x cost / size
  call(p, 1, 2);  // model 1: one
  call(p, 2, 5);  // does not fit: model 1 goes
  EXPECT_TRUE(p.cached(0));
  EXPECT_FALSE(p.cached(1));
  EXPECT_TRUE(p.cached(2));
  std::vector<PlanRevision> revised;
  p.take_revisions(revised);
  ASSERT_EQ(revised.size(), 1u);
  EXPECT_EQ(revised[0].app, 1u);
  EXPECT_EQ(revised[0].idle_since, minutes(2));
  // Warm until the eviction three minutes into its idle period, disk from then on.
  EXPECT_EQ(revised[0].plan.rung_at(minutes(2.9)), Rung::kWarm);
  EXPECT_EQ(revised[0].plan.rung_at(minutes(3)), Rung::kDisk);
  // The clock rose to the victim's priority: one request's worth of cost per GB.
  const RungProfile prof;
  EXPECT_DOUBLE_EQ(p.clock(), prof.latency_s(Rung::kDisk) - prof.latency_s(Rung::kWarm));
  p.take_revisions(revised);
  EXPECT_EQ(revised.size(), 1u) << "taken once";
}

TEST(FaasCache, TheClockAgesModelsThatStopBeingUsed) {
  FaasCache p = make();
  for (int k = 0; k < 3; ++k) call(p, 0, k);  // model 0: frequency 3, then never again
  // Models 1 and 2 take turns: each return is a miss that evicts the other, raising the clock by
  // one request's worth each time, until model 0's frequency no longer protects it.
  double t = 10;
  for (int k = 0; k < 6 && p.cached(0); ++k) call(p, static_cast<AppId>(1 + k % 2), t++);
  EXPECT_FALSE(p.cached(0));
}

TEST(FaasCache, BusyModelsAreNeverEvictedTheCacheOverflowsInstead) {
  FaasCache p = make(1.0);
  p.on_invocation(0, minutes(0));  // busy
  p.on_invocation(1, minutes(1));  // busy too: nothing idle to evict
  EXPECT_TRUE(p.cached(0));
  EXPECT_TRUE(p.cached(1));
  EXPECT_DOUBLE_EQ(p.used_gb(), 2.0);
  p.on_idle(0, minutes(2));
  p.on_invocation(2, minutes(3));  // now model 0 is idle: it goes
  EXPECT_FALSE(p.cached(0));
}

TEST(FaasCache, AModelsMeasuredCostsDecideWhichOneStays) {
  FaasCache p = make();
  // Model 1 measured a far dearer cold start than model 0 (same size, same frequency).
  RungProfile dear;
  dear.latency_ms[index(Rung::kDisk)] = 5000;
  p.add_app(1, AppInfo{1024.0, dear});
  call(p, 0, 0);
  call(p, 1, 1);
  call(p, 2, 2);
  EXPECT_FALSE(p.cached(0));
  EXPECT_TRUE(p.cached(1));
}

TEST(FaasCache, AnEvictedModelStartsOverAtFrequencyOne) {
  FaasCache p = make(1.0);
  const double c = RungProfile{}.latency_s(Rung::kDisk);  // one request's worth per GB
  for (int k = 0; k < 5; ++k) call(p, 0, k);
  call(p, 1, 10);  // evicts model 0 at priority 5c
  EXPECT_DOUBLE_EQ(p.clock(), 5 * c);
  call(p, 0, 11);  // back: evicts model 1 (5c + c)
  EXPECT_DOUBLE_EQ(p.clock(), 6 * c);
  call(p, 1, 12);  // evicts model 0 again: 6c + one request, not six
  EXPECT_DOUBLE_EQ(p.clock(), 7 * c);
}

TEST(FaasCache, WithoutACapacityTheCacheHoldsAShareOfEveryDeclaredModel) {
  FaasCache p(FaasCacheConfig{.capacity_share = 0.5}, RungProfile{});
  for (AppId a = 0; a < 4; ++a) p.add_app(a, AppInfo{1024.0});
  EXPECT_DOUBLE_EQ(p.capacity_gb(), 2.0);
  EXPECT_EQ(p.spec(), "faascache:capacity_share=0.5");
  for (AppId a = 0; a < 3; ++a) call(p, a, a);
  EXPECT_FALSE(p.cached(0)) << "the third model pushed the first out";
  EXPECT_DOUBLE_EQ(p.used_gb(), 2.0);
  p.add_app(3, AppInfo{3072.0});  // a model measured larger grows the cache with it
  EXPECT_DOUBLE_EQ(p.capacity_gb(), 3.0);
}

}  // namespace
}  // namespace thaw::policy
