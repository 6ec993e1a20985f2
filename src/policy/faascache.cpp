#include "policy/faascache.h"

#include <algorithm>

#include <fmt/format.h>

namespace thaw::policy {

FaasCache::FaasCache(FaasCacheConfig config, RungProfile profile) : cfg_(config), profile_(std::move(profile)) {}

std::string FaasCache::spec() const {
  return cfg_.capacity_gb > 0.0 ? fmt::format("faascache:capacity_gb={:g}", cfg_.capacity_gb)
                                : fmt::format("faascache:capacity_share={:g}", cfg_.capacity_share);
}

void FaasCache::add_app(AppId app, const AppInfo& info) {
  if (app >= apps_.size()) apps_.resize(app + 1);
  App& a = apps_[app];
  const RungProfile& p = info.profile ? *info.profile : profile_;
  const double mb = info.memory_mb > 0.0 ? info.memory_mb : cfg_.default_memory_mb;
  const double size = p.memory_gb(Rung::kWarm, mb);
  if (a.cached) used_gb_ += size - a.size_gb;
  total_gb_ += size - a.size_gb;
  a.size_gb = size;
  a.cost_s = p.latency_s(info.floor) - p.latency_s(Rung::kWarm);
}

void FaasCache::on_invocation(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  a.busy = true;
  if (!a.cached) {
    // A miss: the model becomes warm, and its frequency counts from here (it left with its
    // evicted container).
    a.cached = true;
    a.frequency = 0;
    used_gb_ += a.size_gb;
    make_room(app, now);
  }
  ++a.frequency;
  // A model of no size costs nothing to keep: it is never the one to go.
  a.priority = clock_ + (a.size_gb > 0.0 ? static_cast<double>(a.frequency) * a.cost_s / a.size_gb : 1e300);
}

void FaasCache::make_room(AppId arriving, Nanos now) {
  const double capacity = capacity_gb();
  while (used_gb_ > capacity) {
    // Linear scan: a few hundred models, and only on a miss that overflows.
    App* victim = nullptr;
    AppId victim_id = 0;
    for (AppId i = 0; i < apps_.size(); ++i) {
      App& c = apps_[i];
      if (i == arriving || !c.cached || c.busy) continue;
      if (victim == nullptr || c.priority < victim->priority) {
        victim = &c;
        victim_id = i;
      }
    }
    if (victim == nullptr) return;  // only busy models are warm: overflow rather than refuse
    victim->cached = false;
    used_gb_ -= victim->size_gb;
    // The clock becomes the victim's priority; it never falls (a busy model skipped over may hold
    // a lower one).
    clock_ = std::max(clock_, victim->priority);
    ++evictions_;
    if (victim->idle_since >= Nanos{0}) {
      victim->plan = IdlePlan(Rung::kWarm);
      victim->plan.then(now - victim->idle_since, Rung::kDisk);
      revisions_.push_back(PlanRevision{victim_id, victim->idle_since, victim->plan});
    }
  }
}

const IdlePlan& FaasCache::on_idle(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  a.busy = false;
  a.idle_since = now;
  a.plan = IdlePlan(a.cached ? Rung::kWarm : Rung::kDisk);
  return a.plan;
}

void FaasCache::take_revisions(std::vector<PlanRevision>& out) {
  for (auto& r : revisions_) out.push_back(std::move(r));
  revisions_.clear();
}

}  // namespace thaw::policy
