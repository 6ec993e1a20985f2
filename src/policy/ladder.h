// thaw's ladder policy. For each model and each minute of an idle period it picks the rung that
// minimises expected cost = idle memory (GB·s, paid while still idle) + lambda x expected added
// latency (paid if the next request lands in that minute), from the model's predicted idle-time
// distribution. Pre-warming and multi-rung keep-alive fall out of the same rule: a minute with a
// high arrival hazard gets a ready rung, a quiet one a cheap rung. A global memory budget steers
// lambda down when the idle memory all models hold now runs over it. Each model's costs are its own
// measured profile when the manager supplies one (AppInfo::profile), else the global one.
#pragma once

#include <deque>
#include <vector>

#include "policy/idle_histogram.h"
#include "policy/policy.h"
#include "policy/rung.h"

namespace thaw::policy {

struct LadderConfig {
  // GB·s of idle memory worth spending to save one second of added latency.
  double lambda = 1e5;
  // Idle memory (GB, every rung's cost in the profile) that all models together may hold, as a
  // 10-minute average; 0 = no budget.
  double budget_gb = 0.0;
  int range_minutes = 240;     // per-model histogram range, as the hybrid policy's
  double prior_weight = 2.0;   // pseudo-observations of the pooled distribution (Dirichlet prior)
  double prior_floor = 0.02;   // the pooled distribution's least share, however long the history
  double spread = 0.0;         // least kernel half-width in log time (Silverman's rule sets it)
  double tail_minutes = 1200;  // how far past the range an out-of-range idle time is expected
  double default_memory_mb = 256;  // for models declared without a memory size
};

class LadderPolicy final : public Policy {
 public:
  LadderPolicy(LadderConfig config, RungProfile profile);
  std::string spec() const override;
  void add_app(AppId app, const AppInfo& info) override;
  void on_invocation(AppId app, Nanos now) override;
  const IdlePlan& on_idle(AppId app, Nanos now) override;
  void tick(Nanos now) override;

  double effective_lambda() const { return lambda_; }

 private:
  struct App {
    double memory_mb = 0.0;
    std::optional<RungProfile> profile;  // the model's own costs, when measured
    Rung floor = Rung::kDisk;            // where it falls with nothing held (AppInfo::floor)
    IdleHistogram hist;
    double log_sum = 0.0, log_sq = 0.0;  // of idle times >= 1 minute, for the kernel width
    uint64_t log_n = 0;
    IdlePlan plan;
    bool dirty = true;
    uint64_t total_at_plan = 0;
    double lambda_at_plan = 0.0;
    Nanos idle_since{-1};
  };
  void replan(App& a);
  const RungProfile& costs(const App& a) const { return a.profile ? *a.profile : profile_; }

  LadderConfig cfg_;
  RungProfile profile_;
  double lambda_;
  std::vector<App> apps_;
  // Pooled idle times of all models, the prior for models with little history.
  std::vector<double> pooled_;
  double pooled_oob_ = 0.0;
  double pooled_total_ = 0.0;
  // Idle memory held at the last ticks (GB), for the budget controller.
  std::deque<double> recent_gb_;
  int64_t current_minute_ = -1;
  std::vector<double> p_, diff_;  // scratch
};

}  // namespace thaw::policy
