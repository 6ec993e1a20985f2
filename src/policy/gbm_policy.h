// Gradient-boosted idle-time predictor. One global model, trained walk-forward inside the run on
// idle periods that have already ended, predicts log(1 + next idle minutes) from the model's
// recent history; the policy pre-warms k residual deviations before the predicted arrival and
// keeps warm until k deviations after it. Before the first training it acts as fixed keep-alive.
#pragma once

#include <array>
#include <deque>
#include <vector>

#include "policy/gbm_model.h"
#include "policy/policy.h"

namespace thaw::policy {

struct GbmConfig {
  double k = 1.0;                      // window half-width in residual standard deviations
  double retrain_minutes = 120;        // retrain period (simulated time)
  size_t max_samples = 50000;          // most recent samples kept for training
  size_t min_samples = 500;            // no model before this many samples
  double fallback_keepalive_min = 10;  // before the first model
  GbmParams model;
};

class GbmPolicy final : public Policy {
 public:
  static constexpr size_t kFeatures = 10;

  explicit GbmPolicy(GbmConfig config = {});
  std::string spec() const override;
  void add_app(AppId app, const AppInfo& info) override;
  void on_invocation(AppId app, Nanos now) override;
  const IdlePlan& on_idle(AppId app, Nanos now) override;
  void tick(Nanos now) override;

  int trainings() const { return trainings_; }
  double residual_sd() const { return residual_sd_; }
  // The error of the last training, if one failed (the policy keeps its previous model).
  const Status& last_error() const { return last_error_; }

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
    float predicted = 0.0f;
    std::array<float, kFeatures> features{};
    IdlePlan plan;
  };
  void features_for(const App& a, Nanos now, float* out) const;
  IdlePlan plan_from(double predicted_log, double sd) const;

  GbmConfig cfg_;
  std::vector<App> apps_;
  GbmModel model_;
  int model_version_ = 0;
  int trainings_ = 0;
  Nanos last_train_{0};
  std::deque<std::array<float, kFeatures + 1>> samples_;  // features + label
  double residual_sd_ = 1.0;
  double sq_err_sum_ = 0.0;
  uint64_t sq_err_n_ = 0;
  Status last_error_;
  IdlePlan fallback_;
};

}  // namespace thaw::policy
