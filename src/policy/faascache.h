// FaaSCache's greedy-dual keep-alive (Fuerst and Sharma, "FaasCache: Keeping Serverless Computing
// Alive with Greedy-Dual Caching", ASPLOS 2021, Section 4). Keep-alive as caching: every model
// that has run stays warm, without a timeout, until its memory is needed. A model that starts
// while the warm models fill the capacity evicts idle ones, lowest priority first, where
//
//     priority = clock + frequency x cost / size
//
// frequency counts the model's requests since it last became warm, cost is its cold-start cost
// (disk start minus warm start, from its rung profile), size its warm memory, and clock is the
// priority of the last model evicted (older entries age as the clock rises). An evicted model's
// plan is revised to disk from that moment (see Policy::take_revisions). The cache holds the warm
// rung only: the zygote and page-cache rungs are not used. Constants: docs/policies.md.
#pragma once

#include <vector>

#include "policy/policy.h"
#include "policy/rung.h"

namespace thaw::policy {

struct FaasCacheConfig {
  // Warm memory (GB, the warm rung's memory of each model) all models may hold together, busy
  // ones included. Busy models are never evicted: a start that finds only busy ones overflows.
  // 0: capacity_share of what every declared model would hold warm at once (the paper sizes the
  // cache to a server; a replay has none, so the default scales with the models served).
  double capacity_gb = 0.0;
  double capacity_share = 0.5;
  double default_memory_mb = 256;  // for models declared without a memory size
};

class FaasCache final : public Policy {
 public:
  FaasCache(FaasCacheConfig config, RungProfile profile);
  std::string spec() const override;
  void add_app(AppId app, const AppInfo& info) override;
  void on_invocation(AppId app, Nanos now) override;
  const IdlePlan& on_idle(AppId app, Nanos now) override;
  void take_revisions(std::vector<PlanRevision>& out) override;

  // For tests and reports.
  double used_gb() const { return used_gb_; }
  double capacity_gb() const { return cfg_.capacity_gb > 0.0 ? cfg_.capacity_gb : cfg_.capacity_share * total_gb_; }
  double clock() const { return clock_; }
  bool cached(AppId app) const { return app < apps_.size() && apps_[app].cached; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct App {
    double size_gb = 0.0;  // warm memory
    double cost_s = 0.0;   // what a cold start costs over a warm one
    bool cached = false;
    bool busy = false;
    uint64_t frequency = 0;
    double priority = 0.0;
    Nanos idle_since{-1};
    IdlePlan plan{Rung::kDisk};
  };
  void make_room(AppId arriving, Nanos now);

  FaasCacheConfig cfg_;
  RungProfile profile_;
  std::vector<App> apps_;
  double used_gb_ = 0.0;
  double total_gb_ = 0.0;  // every declared model's warm memory
  double clock_ = 0.0;
  uint64_t evictions_ = 0;
  std::vector<PlanRevision> revisions_;
};

}  // namespace thaw::policy
