// SPES (Lee et al., "SPES: Towards Optimizing Performance-Resource Trade-Off for Serverless
// Functions", ICDE 2024). Sorts every function into an invocation-pattern category from its
// per-minute history and applies that category's rule: pre-load around the predicted next
// invocation, unload a category-specific number of minutes after the last one. SPES works in whole
// minutes: a function's history is its invoked minutes, its waiting times (WT) are the runs of
// idle minutes between them. Categories are re-derived online from the last `history` WTs each
// time a WT ends (the paper categorises offline on past days and adapts drifting ones; see
// docs/policies.md for that and for every constant). Warm vs cold only.
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

#include "policy/policy.h"

namespace thaw::policy {

enum class SpesType : uint8_t {
  kUnknown,       // too little history or no pattern: unload after a minute
  kWarm,          // invoked (almost) every minute: never unloaded
  kRegular,       // one waiting time: pre-load around the next period, repeating if it is missed
  kApproRegular,  // a few waiting times: pre-load around each
  kDense,         // short waiting times: pre-load over their range, keep 5 minutes
  kSuccessive,    // invocations come in runs of consecutive minutes: unload after a minute
  kPulsed,        // mostly short gaps, no pattern: keep 3 minutes
  kPossible,      // some waiting times recur: pre-load around those
};
std::string_view spes_type_name(SpesType t);

struct SpesConfig {
  double prewarm_min = 2;       // loaded this many minutes either side of a predicted minute
  double giveup_scale = 1.0;    // multiplies every category's keep-alive (1: the paper's)
  int min_wts = 3;              // fewest WTs for a deterministic category
  int modes = 3;                // WT values an approximately regular function may have
  double mode_share = 0.9;      // share of WTs those values must cover
  double dense_bound_min = 5;   // a dense function's WT quantile is at most this
  double dense_quantile = 0.9;  // ... at this quantile; also its keep-alive
  double regular_sd_min = 2;    // a regular function's WT standard deviation is at most this
  double discrete_min = 10;     // recurring WTs further apart than this are pre-loaded one by one
  double pulsed_giveup_min = 3;
  double giveup_min = 1;        // keep-alive of the other categories
  double warm_share = 0.95;     // always warm: invoked in this share of its minutes ...
  double warm_span_min = 60;    // ... over at least this many
  int history = 256;            // WTs kept per function
  double horizon_min = 1440;    // a regular function's repeated pre-loads are planned this far
};

class Spes final : public Policy {
 public:
  explicit Spes(SpesConfig config = {});
  std::string spec() const override;
  void add_app(AppId app, const AppInfo& info) override;
  void on_invocation(AppId app, Nanos now) override;
  const IdlePlan& on_idle(AppId app, Nanos now) override;

  SpesType type(AppId app) const { return app < apps_.size() ? apps_[app].type : SpesType::kUnknown; }

 private:
  struct App {
    int64_t first_minute = -1, last_minute = -1;
    uint64_t invoked_minutes = 0;
    uint32_t run = 0;                // consecutive invoked minutes, the current run
    std::deque<uint32_t> wts, runs;  // the last `history` of each
    bool dirty = false;
    SpesType type = SpesType::kUnknown;
    double center = 0.0, half = 0.0;  // regular: median WT and the window's half-width
    double lo = 0.0, hi = 0.0;        // dense, possible: the predicted WT range
    std::vector<double> points;       // approximately regular, possible: predicted WTs one by one
    IdlePlan plan;
  };
  bool always_warm(const App& a) const;
  void categorise(App& a);
  double giveup_min(SpesType t) const;
  void build_plan(App& a, Nanos now);

  SpesConfig cfg_;
  std::vector<App> apps_;
  std::vector<uint32_t> sorted_;                     // scratch
  std::vector<std::pair<uint32_t, uint32_t>> freq_;  // scratch: (count, value)
  std::vector<std::pair<Nanos, Nanos>> windows_;     // scratch
};

}  // namespace thaw::policy
