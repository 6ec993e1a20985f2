#include "policy/hybrid_histogram.h"

#include <cmath>

#include <fmt/format.h>

namespace thaw::policy {

HybridHistogram::HybridHistogram(HybridHistogramConfig config) : cfg_(config) {}

std::string HybridHistogram::spec() const {
  return fmt::format("hybrid:range_min={},head={:g},tail={:g},margin={:g},cv={:g},oob={:g}", cfg_.range_minutes,
                     cfg_.head_percentile, cfg_.tail_percentile, cfg_.margin, cfg_.cv_threshold,
                     cfg_.oob_threshold);
}

void HybridHistogram::add_app(AppId app, const AppInfo&) {
  idle_.add_app(app);
  if (app >= apps_.size()) apps_.resize(app + 1, App{IdleHistogram(cfg_.range_minutes), ArForecast(), IdlePlan()});
}

void HybridHistogram::on_invocation(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  Nanos idle = idle_.arrived(app, now);
  if (idle < Nanos{0}) return;
  App& a = apps_[app];
  a.hist.add(idle);
  a.forecast.add(to_minutes(idle));
  // Sub-minute idle times land in bin 0; re-deriving the windows for each of them would change
  // nothing until bin 0's weight moves, so replan after any longer idle time or 1 % growth.
  if (idle >= kMinute || a.hist.total() * 100 >= a.total_at_plan * 101) a.dirty = true;
}

const IdlePlan& HybridHistogram::on_idle(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  idle_.went_idle(app, now);
  App& a = apps_[app];
  if (a.dirty) replan(a);
  return a.plan;
}

void HybridHistogram::replan(App& a) const {
  a.dirty = false;
  a.total_at_plan = a.hist.total();
  const double range = cfg_.range_minutes;
  uint64_t total = a.hist.total();
  if (total > 0 && static_cast<double>(a.hist.out_of_bounds()) > cfg_.oob_threshold * static_cast<double>(total) &&
      !a.forecast.empty()) {
    // Most idle times are longer than the histogram: pre-warm around the forecast.
    a.mode = Mode::kForecast;
    double predicted = a.forecast.next_minutes();
    double prewarm = predicted * (1.0 - cfg_.forecast_margin);
    double end = predicted * (1.0 + cfg_.forecast_margin);
    a.plan = IdlePlan(Rung::kDisk);
    a.plan.hold(minutes(prewarm), minutes(end), Rung::kWarm, Rung::kDisk);
    return;
  }
  if (a.hist.in_range() == 0 || a.hist.bin_count_cv() < cfg_.cv_threshold) {
    // No pattern yet: the conservative fixed keep-alive over the whole range.
    a.mode = Mode::kFallback;
    a.plan = IdlePlan(Rung::kWarm);
    a.plan.then(minutes(range), Rung::kDisk);
    return;
  }
  a.mode = Mode::kHistogram;
  // Head: lower edge of the head bin; tail: upper edge of the tail bin (idle times are floored).
  double head = a.hist.percentile_bin(cfg_.head_percentile);
  double tail = a.hist.percentile_bin(cfg_.tail_percentile) + 1.0;
  double prewarm = std::floor(head * (1.0 - cfg_.margin));
  double end = std::ceil(tail * (1.0 + cfg_.margin));
  a.plan = IdlePlan(prewarm > 0 ? Rung::kDisk : Rung::kWarm);
  a.plan.hold(minutes(prewarm), minutes(end), Rung::kWarm, Rung::kDisk);
}

}  // namespace thaw::policy
