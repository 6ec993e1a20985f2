// The hybrid histogram policy of Shahrad et al., "Serverless in the Wild" (USENIX ATC 2020),
// Section 4.2. Chooses between warm and cold only. Every constant is documented in
// docs/policies.md with where it comes from.
#pragma once

#include <vector>

#include "policy/ar_forecast.h"
#include "policy/idle_histogram.h"
#include "policy/policy.h"

namespace thaw::policy {

struct HybridHistogramConfig {
  int range_minutes = 240;        // histogram range: 4 hours (paper)
  double head_percentile = 0.05;  // pre-warm window from the head (paper)
  double tail_percentile = 0.99;  // keep-alive window from the tail (paper)
  double margin = 0.10;           // 10 % margin on both windows (paper)
  double cv_threshold = 2.0;      // representativeness test on the bin-count CV (paper)
  double oob_threshold = 0.5;     // "most" idle times out of range -> time-series forecast
  double forecast_margin = 0.15;  // 15 % margin around the forecast idle time (paper)
};

class HybridHistogram final : public Policy {
 public:
  explicit HybridHistogram(HybridHistogramConfig config = {});
  std::string spec() const override;
  void add_app(AppId app, const AppInfo& info) override;
  void on_invocation(AppId app, Nanos now) override;
  const IdlePlan& on_idle(AppId app, Nanos now) override;

  // Which branch produced an app's last plan (for tests and reports).
  enum class Mode { kFallback, kHistogram, kForecast };
  Mode mode(AppId app) const { return apps_[app].mode; }

 private:
  struct App {
    IdleHistogram hist;
    ArForecast forecast;
    IdlePlan plan;
    Mode mode = Mode::kFallback;
    bool dirty = true;
    uint64_t total_at_plan = 0;
  };
  void replan(App& a) const;

  HybridHistogramConfig cfg_;
  IdleTracker idle_;
  std::vector<App> apps_;
};

}  // namespace thaw::policy
