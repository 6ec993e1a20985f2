#include "policy/gbm_policy.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace thaw::policy {

GbmPolicy::GbmPolicy(GbmConfig config) : cfg_(config) {
  fallback_ = IdlePlan(Rung::kWarm);
  fallback_.then(minutes(cfg_.fallback_keepalive_min), Rung::kDisk);
}

std::string GbmPolicy::spec() const {
  return fmt::format("gbm:k={:g},retrain_min={:g},trees={},depth={}", cfg_.k, cfg_.retrain_minutes, cfg_.model.trees,
                     cfg_.model.max_depth);
}

void GbmPolicy::add_app(AppId app, const AppInfo&) {
  if (app >= apps_.size()) apps_.resize(app + 1);
  apps_[app].minute_stamp.fill(-1);
  apps_[app].plan = fallback_;
}

void GbmPolicy::features_for(const App& a, Nanos now, float* f) const {
  float mean = 0, sd = 0, mx = 0, short_frac = 0;
  size_t n = a.recent_log_idle.size();
  for (float v : a.recent_log_idle) {
    mean += v;
    mx = std::max(mx, v);
    if (v < std::log1p(1.0f)) short_frac += 1;
  }
  if (n > 0) {
    mean /= static_cast<float>(n);
    short_frac /= static_cast<float>(n);
    for (float v : a.recent_log_idle) sd += (v - mean) * (v - mean);
    sd = std::sqrt(sd / static_cast<float>(n));
  }
  int64_t minute = now / kMinute;
  uint32_t last_hour = 0;
  for (int i = 0; i < 60; ++i)
    if (a.minute_stamp[i] > minute - 60) last_hour += a.minute_counts[i];
  const float nan = std::nanf("");
  f[0] = n > 0 ? a.recent_log_idle.back() : nan;
  f[1] = n > 0 ? mean : nan;
  f[2] = n > 1 ? sd : nan;
  f[3] = n > 0 ? mx : nan;
  f[4] = n > 0 ? short_frac : nan;
  f[5] = std::log1p(static_cast<float>(last_hour));
  f[6] = std::log1p(static_cast<float>(a.invocations));
  f[7] = a.first_seen >= Nanos{0} ? std::log1p(static_cast<float>(to_minutes(now - a.first_seen))) : nan;
  f[8] = static_cast<float>(minute % 1440);
  f[9] = static_cast<float>(n);
}

void GbmPolicy::on_invocation(AppId app, Nanos now) {
  App& a = apps_[app];
  ++a.invocations;
  if (a.first_seen < Nanos{0}) a.first_seen = now;
  int64_t minute = now / kMinute;
  int slot = static_cast<int>(minute % 60);
  if (a.minute_stamp[slot] != minute) {
    a.minute_stamp[slot] = minute;
    a.minute_counts[slot] = 0;
  }
  ++a.minute_counts[slot];
  if (a.idle_since < Nanos{0}) return;  // concurrent with a running request
  float label = static_cast<float>(std::log1p(to_minutes(now - a.idle_since)));
  a.idle_since = Nanos{-1};
  a.recent_log_idle.push_back(label);
  if (a.recent_log_idle.size() > 8) a.recent_log_idle.pop_front();
  if (!a.pending) return;
  a.pending = false;
  std::array<float, kFeatures + 1> s;
  std::copy(a.features.begin(), a.features.end(), s.begin());
  s[kFeatures] = label;
  samples_.push_back(s);
  if (samples_.size() > cfg_.max_samples) samples_.pop_front();
  if (a.model_version > 0) {
    double e = static_cast<double>(label) - a.predicted;
    sq_err_sum_ += e * e;
    ++sq_err_n_;
  }
}

IdlePlan GbmPolicy::plan_from(double predicted_log, double sd) const {
  double lo = std::expm1(predicted_log - cfg_.k * sd);
  double hi = std::max(1.0, std::expm1(predicted_log + cfg_.k * sd));
  IdlePlan p(lo < 1.0 ? Rung::kWarm : Rung::kDisk);
  p.hold(minutes(lo < 1.0 ? 0.0 : lo), minutes(hi), Rung::kWarm, Rung::kDisk);
  return p;
}

const IdlePlan& GbmPolicy::on_idle(AppId app, Nanos now) {
  App& a = apps_[app];
  a.idle_since = now;
  // One prediction (and so one training sample) per app per minute at most: faster arrivals
  // change the features too little to matter.
  bool fresh = a.predicted_at >= Nanos{0} && now - a.predicted_at < kMinute && a.model_version == model_version_;
  if (fresh) return a.plan;
  a.predicted_at = now;
  a.model_version = model_version_;
  features_for(a, now, a.features.data());
  a.pending = true;
  if (!model_.trained()) {
    a.plan = fallback_;
    return a.plan;
  }
  Result<float> pred = model_.predict(a.features.data(), kFeatures);
  if (!pred.is_ok()) {
    last_error_ = pred.status();
    a.plan = fallback_;
    return a.plan;
  }
  a.predicted = *pred;
  a.plan = plan_from(*pred, residual_sd_);
  return a.plan;
}

void GbmPolicy::tick(Nanos now) {
  if (now - last_train_ < minutes(cfg_.retrain_minutes) || samples_.size() < cfg_.min_samples) return;
  last_train_ = now;
  if (sq_err_n_ > 100) residual_sd_ = std::sqrt(sq_err_sum_ / static_cast<double>(sq_err_n_));
  sq_err_sum_ = 0.0;
  sq_err_n_ = 0;
  std::vector<float> x;
  std::vector<float> y;
  x.reserve(samples_.size() * kFeatures);
  y.reserve(samples_.size());
  for (const auto& s : samples_) {
    x.insert(x.end(), s.begin(), s.begin() + kFeatures);
    y.push_back(s[kFeatures]);
  }
  GbmParams params = cfg_.model;
  params.seed += static_cast<uint64_t>(trainings_);
  Status st = model_.train(x, y, kFeatures, params);
  if (!st.is_ok()) {
    last_error_ = st;
    return;
  }
  if (trainings_ == 0 && sq_err_n_ == 0) {
    // First model: estimate its spread in-sample until out-of-sample errors arrive.
    double se = 0.0;
    for (const auto& s : samples_) {
      Result<float> p = model_.predict(s.data(), kFeatures);
      if (p.is_ok()) se += (s[kFeatures] - *p) * (s[kFeatures] - *p);
    }
    residual_sd_ = std::sqrt(se / static_cast<double>(samples_.size()));
  }
  ++trainings_;
  ++model_version_;
}

}  // namespace thaw::policy
