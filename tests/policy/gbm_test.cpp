#include <gtest/gtest.h>

#include "driver.h"
#include "policy/gbm_model.h"
#include "policy/gbm_policy.h"

namespace thaw::policy {
namespace {

TEST(GbmModel, LearnsASimpleFunction) {
  std::vector<float> x, y;
  for (int i = 0; i < 400; ++i) {
    float a = static_cast<float>(i % 20), b = static_cast<float>(i % 7);
    x.push_back(a);
    x.push_back(b);
    y.push_back(a > 10 ? 5.0f : -5.0f);
  }
  GbmModel m;
  EXPECT_FALSE(m.trained());
  float row[2] = {3, 1};
  EXPECT_FALSE(m.predict(row, 2).is_ok());
  ASSERT_TRUE(m.train(x, y, 2, GbmParams{}).is_ok());
  EXPECT_NEAR(*m.predict(row, 2), -5.0f, 0.5f);
  float row2[2] = {15, 1};
  EXPECT_NEAR(*m.predict(row2, 2), 5.0f, 0.5f);
  EXPECT_FALSE(m.train(x, y, 3, GbmParams{}).is_ok());  // shape mismatch is an error, not a crash
}

TEST(GbmPolicy, PlanFromSurvivalPrewarmsWherePredictedArrivalsAre) {
  GbmPolicy p;
  // Survival grid {1,2,4,6,10,15,20,30,60,120,240}: nobody arrives before 15 minutes, all by 20.
  std::array<float, GbmPolicy::kGrid.size()> s = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
  IdlePlan plan = p.plan_from_survival(s);
  EXPECT_EQ(plan.rung_at(minutes(5)), Rung::kDisk);
  EXPECT_EQ(plan.rung_at(minutes(17)), Rung::kWarm);
  EXPECT_EQ(plan.rung_at(minutes(25)), Rung::kDisk);
  // Non-monotone predictions are made monotone, never negative probabilities.
  std::array<float, GbmPolicy::kGrid.size()> noisy = {0.2f, 0.9f, 0.1f, 0, 0, 0, 0, 0, 0, 0, 0};
  IdlePlan q = p.plan_from_survival(noisy);
  EXPECT_EQ(q.rung_at(Nanos{0}), Rung::kWarm);
  EXPECT_EQ(q.rung_at(minutes(100)), Rung::kDisk);
}

TEST(GbmPolicy, LearnsStrictTimersWalkForward) {
  // 40 apps on 10- and 45-minute timers; the model trains on ended idle periods only.
  GbmConfig c;
  c.retrain_minutes = 120;
  GbmPolicy p(c);
  const int apps = 40;
  for (AppId a = 0; a < apps; ++a) p.add_app(a, AppInfo{256});
  std::vector<Nanos> idle_start(apps, Nanos{-1});
  int late_cold = 0, late_total = 0;
  for (int minute = 0; minute < 3 * 1440; ++minute) {
    for (AppId a = 0; a < apps; ++a) {
      int period = a % 2 == 0 ? 10 : 45;
      if ((minute + static_cast<int>(a)) % period != 0) continue;
      Nanos t = minutes(minute);
      if (idle_start[a] >= Nanos{0}) {
        Rung r = p.on_idle(a, idle_start[a]).rung_at(t - idle_start[a]);
        if (minute > 2 * 1440) {
          ++late_total;
          late_cold += r != Rung::kWarm;
        }
      }
      p.on_invocation(a, t);
      idle_start[a] = t;
    }
    p.tick(minutes(minute + 1));
  }
  EXPECT_TRUE(p.last_error().is_ok()) << p.last_error().to_string();
  EXPECT_GT(p.trainings(), 5);
  ASSERT_GT(late_total, 1000);
  EXPECT_LT(late_cold, late_total / 20);  // < 5 % cold once trained
  // And it does not just stay warm: a 45-minute timer is unloaded mid-gap.
  const IdlePlan& plan = p.on_idle(1, idle_start[1]);
  EXPECT_EQ(plan.rung_at(minutes(25)), Rung::kDisk);
}

}  // namespace
}  // namespace thaw::policy
