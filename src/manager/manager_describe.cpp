// What the manager tells /admin/models, /admin/profile and /metrics.
#include <nlohmann/json.hpp>

#include "manager/manager.h"
#include "manager/measured_profile.h"

namespace thaw::manager {

using policy::Rung;
using json = nlohmann::json;

std::vector<ModelStats> Manager::stats() const {
  std::vector<ModelStats> out;
  for (const auto& m : models_) {
    std::lock_guard lock(m->mu);
    ModelStats s = m->counters;
    s.instances = m->live(false);
    s.reserved = m->live(true);
    s.starting = m->starting();
    s.in_flight = m->in_flight;
    for (Tier t : kAllTiers) s.waiting[index(t)] = m->waiting_in(t);
    s.zygote = m->zygote != nullptr;
    s.memory_bytes = m->zygote_pss;
    for (const auto& i : m->instances) s.memory_bytes += i->pss;
    s.rung = controller_->rung_of(*m);
    out.push_back(std::move(s));
  }
  return out;
}

json Manager::describe() const {
  json models = json::array();
  const Nanos now = clock_.now();
  for (const auto& m : models_) {
    std::lock_guard lock(m->mu);
    json instances = json::array();
    uint64_t memory = m->zygote_pss;
    for (const auto& i : m->instances) {
      memory += i->pss;
      instances.push_back({{"id", i->id},
                           {"pid", i->worker->pid()},
                           {"endpoint", i->worker->endpoint().to_string()},
                           {"pool", i->reserved ? "reserved" : "shared"},
                           {"forked", i->worker->forked()},
                           {"outstanding", i->outstanding},
                           {"draining", i->draining},
                           {"canary", i->canary},
                           {"pss_bytes", i->pss}});
    }
    json queue;
    for (Tier t : kAllTiers) queue[std::string(tier_name(t))] = m->waiting_in(t);
    json cold;
    for (Rung r : policy::kAllRungs) cold[std::string(policy::rung_name(r))] = m->counters.cold_starts[policy::index(r)];
    json plan = nullptr;
    if (m->idle()) {
      Nanos offset = now - m->idle_since;
      auto next = m->plan.next_change(offset);
      plan = {{"holding", m->holding},
              {"idle_seconds", to_seconds(offset)},
              {"rung_now", policy::rung_name(m->plan.rung_at(offset))},
              {"next_change_in_seconds", next ? json(to_seconds(*next - offset)) : json(nullptr)},
              {"next_rung", next ? json(policy::rung_name(m->plan.rung_at(*next))) : json(nullptr)}};
    }
    models.push_back({{"name", m->config.name},
                      {"bundle", m->config.bundle},
                      {"rung", policy::rung_name(controller_->rung_of(*m))},
                      {"instances", instances},
                      {"starting", m->starting()},
                      {"zygote", m->zygote ? json({{"pid", m->zygote->pid()}, {"pss_bytes", m->zygote_pss}}) : json(nullptr)},
                      {"zygote_safe", m->zygote_safe},
                      {"version", m->config.version},
                      {"unloaded", m->unloaded},
                      {"in_flight", m->in_flight},
                      {"queue", queue},
                      {"memory_bytes", memory},
                      {"fresh_instance_estimate_bytes", m->start_estimate},
                      {"min_instances", m->config.min_instances},
                      {"reserved_instances", m->config.reserved_instances},
                      {"max_instances", m->config.max_instances},
                      {"concurrency", m->config.concurrency},
                      {"cold_starts", cold},
                      {"start_failures", m->counters.start_failures},
                      {"instance_deaths", m->counters.instance_deaths},
                      {"rejected", m->counters.rejected},
                      {"timeouts", m->counters.timeouts},
                      {"cancelled", m->counters.cancelled},
                      {"idle_plan", plan},
                      {"source", m->config.source.empty() ? json(nullptr) : json(m->config.source)},
                      {"canary", m->canary.percent > 0 ? json({{"percent", m->canary.percent},
                                                               {"version", m->canary.version},
                                                               {"source", m->canary.source}})
                                                       : json(nullptr)},
                      {"fetch_estimate_ms", m->fetch_estimate_ms},
                      {"last_error", m->last_error.is_ok() ? json(nullptr) : json(m->last_error.to_string())}});
  }
  json refused = json::array();
  for (const RefusedModel& r : options_.refused)
    refused.push_back({{"name", r.name}, {"bundle", r.bundle}, {"error", r.error}});
  return {{"models", models},
          {"refused", refused},
          {"memory_bytes", controller_->memory_bytes()},
          {"memory_budget_bytes", options_.memory_budget_bytes},
          {"waiting", pool_->waiting_total()},
          {"max_waiting", options_.max_waiting},
          {"policy", policy_->spec()},
          {"store", options_.describe_store ? options_.describe_store() : json(nullptr)}};
}

}  // namespace thaw::manager

namespace thaw::manager {

std::string Manager::profile_yaml() const {
  std::vector<RungMeasurements> all;
  for (const auto& m : models_) {
    std::lock_guard lock(m->mu);
    all.push_back(measurements(*m));
  }
  return manager::profile_yaml(all, options_.profile);
}

}  // namespace thaw::manager
