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
  return fmt::format("gbm:hazard={:g},retrain_min={:g},trees={},depth={}", cfg_.hazard, cfg_.retrain_minutes, cfg_.model.trees,
                     cfg_.model.max_depth);
}

void GbmPolicy::add_app(AppId app, const AppInfo&) {
  size_t old = apps_.size();
  if (app < old) return;
  apps_.resize(app + 1);
  for (size_t i = old; i < apps_.size(); ++i) {
    apps_[i].minute_stamp.fill(-1);
    apps_[i].plan = fallback_;
  }
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
  if (app >= apps_.size()) add_app(app, AppInfo{});
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
  float idle_min = static_cast<float>(to_minutes(now - a.idle_since));
  a.idle_since = Nanos{-1};
  a.recent_log_idle.push_back(std::log1p(idle_min));
  if (a.recent_log_idle.size() > 8) a.recent_log_idle.pop_front();
  ++a.idle_count;
  for (size_t j = 0; j < kGrid.size(); ++j) a.reached[j] += idle_min >= kGrid[j] ? 1 : 0;
  if (!a.pending) return;
  a.pending = false;
  std::array<float, kSampleSize> s;
  std::copy(a.features.begin(), a.features.end(), s.begin());
  std::copy(a.empirical.begin(), a.empirical.end(), s.begin() + kHistoryFeatures);
  s[kSampleSize - 1] = idle_min;
  samples_.push_back(s);
  if (samples_.size() > cfg_.max_samples) samples_.pop_front();
}

IdlePlan GbmPolicy::plan_from_survival(const std::array<float, kGrid.size()>& survival) const {
  IdlePlan p(Rung::kDisk);
  double prev_t = 0.0, prev_s = 1.0;
  bool first = true;
  for (size_t j = 0; j < kGrid.size(); ++j) {
    double s = std::min<double>(prev_s, std::clamp<double>(survival[j], 0.0, 1.0));  // monotone
    double arrive = prev_s - s;
    double idle_minutes = (kGrid[j] - prev_t) * (s + 0.5 * arrive);
    Rung r = idle_minutes > 0.0 && arrive / idle_minutes >= cfg_.hazard ? Rung::kWarm : Rung::kDisk;
    if (first) {
      p = IdlePlan(r);
      first = false;
    } else {
      p.then(minutes(prev_t), r);
    }
    prev_t = kGrid[j];
    prev_s = s;
  }
  p.then(minutes(prev_t), Rung::kDisk);
  return p;
}

const IdlePlan& GbmPolicy::on_idle(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  a.idle_since = now;
  // One prediction (and so one training sample) per app per minute at most: faster arrivals
  // change the features too little to matter.
  bool fresh = a.predicted_at >= Nanos{0} && now - a.predicted_at < kMinute && a.model_version == model_version_;
  if (fresh) return a.plan;
  a.predicted_at = now;
  a.model_version = model_version_;
  features_for(a, now, a.features.data());
  for (size_t j = 0; j < kGrid.size(); ++j)
    a.empirical[j] = a.idle_count > 0 ? static_cast<float>(a.reached[j]) / static_cast<float>(a.idle_count) : std::nanf("");
  a.pending = true;
  if (!model_.trained()) {
    a.plan = fallback_;
    return a.plan;
  }
  rows_.clear();
  for (size_t j = 0; j < kGrid.size(); ++j) {
    rows_.insert(rows_.end(), a.features.begin(), a.features.end());
    rows_.push_back(kGrid[j]);
    rows_.push_back(a.empirical[j]);
  }
  if (Status st = model_.predict_rows(rows_.data(), kGrid.size(), kFeatures, out_); !st.is_ok()) {
    last_error_ = st;
    a.plan = fallback_;
    return a.plan;
  }
  std::array<float, kGrid.size()> survival{};
  std::copy(out_.begin(), out_.end(), survival.begin());
  a.plan = plan_from_survival(survival);
  return a.plan;
}

void GbmPolicy::tick(Nanos now) {
  if (now - last_train_ < minutes(cfg_.retrain_minutes) || samples_.size() < cfg_.min_samples) return;
  last_train_ = now;
  std::vector<float> x;
  std::vector<float> y;
  x.reserve(samples_.size() * kGrid.size() * kFeatures);
  y.reserve(samples_.size() * kGrid.size());
  for (const auto& s : samples_) {
    for (size_t j = 0; j < kGrid.size(); ++j) {
      x.insert(x.end(), s.begin(), s.begin() + kHistoryFeatures);
      x.push_back(kGrid[j]);
      x.push_back(s[kHistoryFeatures + j]);
      y.push_back(s[kSampleSize - 1] >= kGrid[j] ? 1.0f : 0.0f);
    }
  }
  GbmParams params = cfg_.model;
  params.seed += static_cast<uint64_t>(trainings_);
  Status st = model_.train(x, y, kFeatures, params);
  if (!st.is_ok()) {
    last_error_ = st;
    return;
  }
  ++trainings_;
  ++model_version_;
}

}  // namespace thaw::policy
