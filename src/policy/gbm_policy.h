// Gradient-boosted idle-time predictor. One global model, trained walk-forward inside the run on
// idle periods that have already ended, predicts the survival curve P(idle >= t | history) at a
// fixed grid of t (the threshold is a feature, the label is whether the idle time reached it:
// one binary:logistic model for the whole curve). The policy holds warm over each grid interval
// whose predicted arrival rate (arrival probability per minute still idle) reaches `hazard`,
// and cold elsewhere: pre-warming before a predicted arrival falls out of the same rule.
// Before the first training it acts as a fixed keep-alive.
#pragma once

#include <array>
#include <deque>
#include <vector>

#include "policy/gbm_model.h"
#include "policy/policy.h"

namespace thaw::policy {

struct GbmConfig {
  double hazard = 0.05;                // warm where P(arrival) per idle minute >= this
  double retrain_minutes = 180;        // retrain period (simulated time)
  size_t max_samples = 20000;          // most recent idle periods kept for training
  size_t min_samples = 500;            // no model before this many samples
  double fallback_keepalive_min = 10;  // before the first model
  GbmParams model{"binary:logistic", 20, 5, 0.3, 1};
};

class GbmPolicy final : public Policy {
 public:
  // Survival grid in minutes; the last point is the longest idle time the policy plans for.
  static constexpr std::array<float, 11> kGrid = {1, 2, 4, 6, 10, 15, 20, 30, 60, 120, 240};
  static constexpr size_t kHistoryFeatures = 10;
  // Per row: the history, the threshold t, and the app's own empirical P(idle >= t) so far.
  static constexpr size_t kFeatures = kHistoryFeatures + 2;
  // What a sample keeps: the history, the empirical survival at each grid point, the idle time.
  static constexpr size_t kSampleSize = kHistoryFeatures + kGrid.size() + 1;

  explicit GbmPolicy(GbmConfig config = {});
  std::string spec() const override;
  void add_app(AppId app, const AppInfo& info) override;
  void on_invocation(AppId app, Nanos now) override;
  const IdlePlan& on_idle(AppId app, Nanos now) override;
  void tick(Nanos now) override;

  int trainings() const { return trainings_; }
  // The error of the last training or prediction, if one failed (the policy keeps going on its
  // previous model or the fallback).
  const Status& last_error() const { return last_error_; }
  // Plan for a predicted survival curve S(kGrid[j]) (exposed for tests).
  IdlePlan plan_from_survival(const std::array<float, kGrid.size()>& survival) const;

 private:
  struct App {
    std::deque<float> recent_log_idle;  // last 8 idle periods, log1p(minutes)
    std::array<uint32_t, 60> minute_counts{};
    std::array<int64_t, 60> minute_stamp{};
    uint64_t invocations = 0;
    Nanos first_seen{-1};
    Nanos idle_since{-1};
    Nanos predicted_at{-1};
    int model_version = -1;
    bool pending = false;
    std::array<float, kHistoryFeatures> features{};
    std::array<float, kGrid.size()> empirical{};  // snapshot with the features
    std::array<uint32_t, kGrid.size()> reached{};  // idle times >= each grid point
    uint32_t idle_count = 0;
    IdlePlan plan;
  };
  void features_for(const App& a, Nanos now, float* out) const;

  GbmConfig cfg_;
  std::vector<App> apps_;
  GbmModel model_;
  int model_version_ = 0;
  int trainings_ = 0;
  Nanos last_train_{0};
  std::deque<std::array<float, kSampleSize>> samples_;
  Status last_error_;
  IdlePlan fallback_;
  std::vector<float> rows_, out_;  // scratch
};

}  // namespace thaw::policy
