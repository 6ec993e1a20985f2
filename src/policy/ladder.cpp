#include "policy/ladder.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace thaw::policy {

LadderPolicy::LadderPolicy(LadderConfig config, RungProfile profile)
    : cfg_(config), profile_(std::move(profile)), lambda_(config.lambda),
      pooled_(static_cast<size_t>(std::max(config.range_minutes, 1)), 0.0) {}

std::string LadderPolicy::spec() const {
  return fmt::format("ladder:lambda={:g},budget_gb={:g},range_min={},prior={:g},floor={:g},spread={:g},tail_min={:g}",
                     cfg_.lambda, cfg_.budget_gb, cfg_.range_minutes, cfg_.prior_weight, cfg_.prior_floor, cfg_.spread,
                     cfg_.tail_minutes);
}

void LadderPolicy::add_app(AppId app, const AppInfo& info) {
  if (app >= apps_.size()) apps_.resize(app + 1, App{0.0, std::nullopt, Rung::kDisk, IdleHistogram(cfg_.range_minutes)});
  App& a = apps_[app];
  a.memory_mb = info.memory_mb > 0.0 ? info.memory_mb : cfg_.default_memory_mb;
  a.profile = info.profile;
  a.floor = info.floor;
  a.dirty = true;  // new costs: the next idle period is planned with them
}

void LadderPolicy::on_invocation(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  if (a.idle_since < Nanos{0}) return;  // concurrent with a running request
  Nanos idle = now - a.idle_since;
  a.idle_since = Nanos{-1};
  a.hist.add(idle);
  if (idle >= kMinute) {
    double l = std::log(to_minutes(idle));
    a.log_sum += l;
    a.log_sq += l * l;
    ++a.log_n;
  }
  // The pooled distribution: an app's k-th idle time weighs 1/k, so busy apps count
  // logarithmically in their history, not linearly, and a typical app shapes the prior.
  double w = 1.0 / static_cast<double>(a.hist.total());
  int64_t bin = idle / kMinute;
  if (bin < static_cast<int64_t>(pooled_.size())) pooled_[bin] += w;
  else pooled_oob_ += w;
  pooled_total_ += w;
  if (idle >= kMinute || a.hist.total() * 100 >= a.total_at_plan * 101) a.dirty = true;
}

const IdlePlan& LadderPolicy::on_idle(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  a.idle_since = now;
  if (a.dirty || std::abs(a.lambda_at_plan / lambda_ - 1.0) > 0.05) replan(a);
  return a.plan;
}

void LadderPolicy::tick(Nanos now) {
  if (cfg_.budget_gb <= 0.0) return;
  int64_t minute = now / kMinute;
  if (minute == current_minute_) return;
  current_minute_ = minute;
  // What the idle models hold right now, by their plans.
  double held_gb = 0.0;
  for (const App& a : apps_)
    if (a.idle_since >= Nanos{0} && now >= a.idle_since)
      held_gb += costs(a).memory_gb(a.plan.rung_at(now - a.idle_since), a.memory_mb);
  recent_gb_.push_back(held_gb);
  if (recent_gb_.size() > 10) recent_gb_.pop_front();
  double avg_gb = std::accumulate(recent_gb_.begin(), recent_gb_.end(), 0.0) / static_cast<double>(recent_gb_.size());
  // Multiplicative steering: fast down when over budget, slower back up to the configured price.
  if (avg_gb > cfg_.budget_gb) lambda_ *= 0.9;
  else if (avg_gb < 0.9 * cfg_.budget_gb) lambda_ = std::min(cfg_.lambda, lambda_ * 1.05);
  lambda_ = std::max(lambda_, cfg_.lambda * 1e-6);
}

void LadderPolicy::replan(App& a) {
  a.dirty = false;
  a.total_at_plan = a.hist.total();
  a.lambda_at_plan = lambda_;
  const int n = a.hist.range_minutes();
  // Per-minute arrival probability from the app's own idle times, smoothed by a kernel in log
  // time: idle times recur with jitter roughly proportional to their length, and a few
  // observations say less than many. Half-width by Silverman's rule, 1.06 sd(log idle) n^-1/5,
  // at least one minute; each count is spread evenly (a box kernel, via a difference array, so
  // replanning stays O(range)).
  double width = cfg_.spread;
  if (a.log_n >= 2) {
    double nn = static_cast<double>(a.log_n);
    double var = std::max(0.0, a.log_sq / nn - (a.log_sum / nn) * (a.log_sum / nn));
    width = std::max(width, 1.06 * std::sqrt(var) * std::pow(nn, -0.2));
  }
  diff_.assign(static_cast<size_t>(n) + 1, 0.0);
  for (int b = 0; b < n; ++b) {
    double c = static_cast<double>(a.hist.count(b));
    if (c == 0.0) continue;
    double center = b + 0.5;
    int lo = std::max(0, std::min(b - 1, static_cast<int>(std::floor(center * std::exp(-width)))));
    int hi = std::min(n - 1, std::max(b + 1, static_cast<int>(std::floor(center * std::exp(width)))));
    if (b == 0) lo = 0;
    double each = c / static_cast<double>(hi - lo + 1);
    diff_[lo] += each;
    diff_[hi + 1] -= each;
  }
  p_.assign(static_cast<size_t>(n), 0.0);
  double run = 0.0;
  for (int b = 0; b < n; ++b) {
    run += diff_[b];
    p_[b] = std::max(0.0, run);
  }
  // Mixture of the app's own distribution and the pooled one. The pooled share shrinks with
  // history (Dirichlet prior of prior_weight observations) but never below prior_floor: apps
  // change, and the past day never shows every idle time the next one will.
  const double own_total = static_cast<double>(a.hist.total());
  const double oob = static_cast<double>(a.hist.out_of_bounds());
  if (own_total <= 0.0 && pooled_total_ <= 0.0) {
    // Nothing known at all (the pooled distribution is empty too): hold nothing without evidence.
    a.plan = IdlePlan(Rung::kDisk);
    return;
  }
  double share = 0.0;
  if (pooled_total_ > 0.0)
    share = own_total > 0.0 ? std::max(cfg_.prior_weight / (own_total + cfg_.prior_weight), cfg_.prior_floor) : 1.0;
  share = std::min(share, 1.0);
  const double own_scale = own_total > 0.0 ? (1.0 - share) / own_total : 0.0;
  for (int b = 0; b < n; ++b) {
    double g = pooled_total_ > 0.0 ? pooled_[b] / pooled_total_ : 0.0;
    p_[b] = p_[b] * own_scale + share * g;
  }
  double p_oob = oob * own_scale + (pooled_total_ > 0.0 ? share * pooled_oob_ / pooled_total_ : 0.0);

  // Ties go to the cheaper rung: with nothing to gain, hold nothing.
  const RungProfile& profile = costs(a);
  auto best_rung = [&](double expected_idle_s, double p_arrive) {
    // Holding nothing leaves the model at its floor: disk, or the registry while it has no local copy.
    Rung best = Rung::kDisk;
    double best_cost = lambda_ * p_arrive * profile.latency_s(a.floor);
    for (Rung r : {Rung::kPageCache, Rung::kZygote, Rung::kWarm}) {
      double cost = profile.memory_gb(r, a.memory_mb) * expected_idle_s + lambda_ * p_arrive * profile.latency_s(r);
      if (cost < best_cost) {
        best = r;
        best_cost = cost;
      }
    }
    return best;
  };

  // survival = P(idle >= b minutes), walking the bins in order.
  double survival = 1.0;
  Rung first_rung = Rung::kDisk;
  IdlePlan plan;
  for (int b = 0; b < n; ++b) {
    double after = std::max(0.0, survival - p_[b]);
    double expected_idle_s = 60.0 * (after + 0.5 * p_[b]);
    Rung r = best_rung(expected_idle_s, p_[b]);
    if (b == 0) {
      first_rung = r;
      plan = IdlePlan(r);
    } else {
      plan.then(minutes(b), r);
    }
    survival = after;
  }
  (void)first_rung;
  // Past the range: one rung for the expected out-of-range stretch, then disk.
  double tail_idle_s = 60.0 * p_oob * 0.5 * cfg_.tail_minutes;
  Rung tail = best_rung(tail_idle_s, p_oob);
  plan.hold(minutes(n), minutes(n + cfg_.tail_minutes), tail, Rung::kDisk);
  a.plan = std::move(plan);
}

}  // namespace thaw::policy
