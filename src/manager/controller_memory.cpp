// The ladder controller's housekeeping: memory (PSS) and its budget, the measured costs the policy
// plans with, keep-warm pings, shutdown.
#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "manager/ladder_controller.h"
#include "manager/measured_profile.h"

namespace thaw::manager {

using policy::Rung;

void LadderController::measure_memory() {
  uint64_t total = 0;
  for (ModelState* m : models_) {
    std::vector<std::shared_ptr<Instance>> instances;
    std::shared_ptr<ZygoteHandle> zygote;
    {
      std::lock_guard lock(m->mu);
      instances = m->instances;
      zygote = m->zygote;
    }
    // Measured without the lock: reading /proc takes a while.
    std::vector<uint64_t> pss;
    for (auto& i : instances) pss.push_back(i->worker->memory_bytes());
    const uint64_t zygote_pss = zygote ? zygote->memory_bytes() : 0;
    std::lock_guard lock(m->mu);
    for (size_t k = 0; k < instances.size(); ++k) {
      instances[k]->pss = pss[k];
      total += pss[k];
      // A forked instance's PSS leaves out what it shares with the zygote: only fresh ones tell
      // what a warm instance holds.
      if (pss[k] > 0 && !instances[k]->worker->forked()) m->measured.warm = pss[k];
    }
    if (m->zygote == zygote) m->zygote_pss = zygote_pss;
    if (zygote_pss > 0) m->measured.zygote = zygote_pss;
    total += zygote_pss;
  }
  memory_total_ = total;
  if (options_.memory_budget_bytes > 0 && total > options_.memory_budget_bytes) enforce_budget(total, nullptr, 0);
}

void LadderController::refresh_costs() {
  for (ModelState* m : models_) {
    std::string bundle, path;
    {
      std::lock_guard lock(m->mu);
      path = m->config.bundle;
      if (m->idle() && m->live() == 0 && !m->zygote && m->applied == Rung::kPageCache) bundle = m->config.bundle;
    }
    // What the page cache holds of the bundle, while nothing maps it (mincore: no lock held), and
    // what fetching it would cost while it has no local copy.
    const uint64_t cached = bundle.empty() ? 0 : launcher_.cached_bytes(bundle);
    const double fetch_ms = launcher_.fetch_cost_ms(path);
    policy::AppInfo info;
    info.floor = fetch_ms > 0.0 ? Rung::kRegistry : Rung::kDisk;
    {
      std::lock_guard lock(m->mu);
      if (cached > 0) m->measured.page_cache = cached;
      const bool fetch_moved = (fetch_ms > 0.0) != (m->fetch_estimate_ms > 0.0) ||
                               std::abs(fetch_ms - m->fetch_estimate_ms) > 0.1 * std::max(fetch_ms, m->fetch_estimate_ms);
      m->fetch_estimate_ms = fetch_ms;
      uint64_t starts = 0;
      for (uint64_t n : m->counters.cold_starts) starts += n;
      if (m->given.profile && m->given.starts == starts && m->given.memory == m->measured && !fetch_moved) continue;
      m->given.starts = starts;
      m->given.memory = m->measured;
      const uint64_t warm = m->measured.warm > 0 ? m->measured.warm : m->start_estimate;
      info.memory_mb = static_cast<double>(warm) / (1 << 20);
      info.profile = measured_profile(measurements(*m), options_.profile, warm);
      // Only a real move re-plans: each start nudges the mean a little.
      auto near = [](double a, double b) { return std::abs(a - b) <= 0.01 * std::max(std::abs(a), std::abs(b)) + 1e-9; };
      bool same = m->given.profile.has_value() && near(m->given.memory_mb, info.memory_mb) && !fetch_moved;
      for (int i = 0; same && i < policy::kRungCount; ++i)
        same = near(m->given.profile->latency_ms[i], info.profile->latency_ms[i]) &&
               near(m->given.profile->memory_fraction[i], info.profile->memory_fraction[i]);
      if (same) continue;
      m->given.profile = info.profile;
      m->given.memory_mb = info.memory_mb;
    }
    policy_.add_app(m->app, info);
  }
}

Status LadderController::make_room(const ModelState& for_model, uint64_t bytes) {
  const uint64_t budget = options_.memory_budget_bytes;
  if (budget == 0) return Status::ok();
  const uint64_t total = memory_total_;
  if (total + bytes <= budget) return Status::ok();
  enforce_budget(total, &for_model, bytes);
  if (memory_total_ + bytes <= budget) return Status::ok();
  return make_error(Code::kResourceExhausted,
                    "memory budget: {} MiB in use + ~{} MiB for '{}' exceeds {} MiB, and nothing idle is left to "
                    "demote; raise server.memory_budget_mb or lower min_instances",
                    memory_total_ >> 20, bytes >> 20, for_model.config.name, budget >> 20);
}

void LadderController::enforce_budget(uint64_t total, const ModelState* spare, uint64_t extra) {
  const uint64_t budget = options_.memory_budget_bytes;
  // Least recently used idle models first; the model asking for room is never demoted for it.
  // A snapshot, one lock at a time: sorting under the locks could deadlock two concurrent callers
  // (A then B against B then A), and keys changing mid-sort break std::sort.
  std::vector<std::pair<Nanos, ModelState*>> order;
  for (ModelState* m : models_) {
    if (m == spare) continue;
    std::lock_guard lock(m->mu);
    order.emplace_back(m->last_request, m);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto [last_request, m] : order) {
    if (total + extra <= budget) break;
    std::vector<std::shared_ptr<Instance>> victims;
    std::shared_ptr<ZygoteHandle> zygote;
    uint64_t freed = 0;
    {
      std::lock_guard lock(m->mu);
      if (!m->idle()) continue;
      victims = take_idle_spares(*m, m->config.min_instances);
      for (auto& v : victims) freed += v->pss;
      if (total + extra > budget + freed && m->zygote) {
        zygote = std::move(m->zygote);
        freed += m->zygote_pss;
        m->zygote_pss = 0;
      }
      if (!victims.empty() || zygote) {
        m->holding = false;
        m->applied = zygote ? Rung::kPageCache : (m->zygote ? Rung::kZygote : Rung::kPageCache);
        m->plan = policy::IdlePlan(m->applied);
      }
    }
    if (victims.empty() && !zygote) continue;
    spdlog::info("model={} demoted by the memory budget: {} instance(s){} stopped ({} MiB in use, budget {} MiB)",
                 m->config.name, victims.size(), zygote ? " and the zygote" : "", total >> 20, budget >> 20);
    stop_instances(victims, *m, "memory budget");
    if (zygote) launcher_.stop_zygote(std::move(zygote), options_.stop_grace, nullptr);
    total = total > freed ? total - freed : 0;
  }
  memory_total_ = total;
}

void LadderController::ping_floors() {
  for (ModelState* m : models_) {
    std::vector<std::shared_ptr<Instance>> targets;
    {
      std::lock_guard lock(m->mu);
      if (m->config.min_instances + m->config.reserved_instances == 0) continue;
      for (auto& i : m->instances)
        if (!i->dead && !i->draining && i->outstanding == 0) targets.push_back(i);
    }
    for (auto& inst : targets) {
      launcher_.ping(inst->worker, [this, inst, name = m->config.name](Status s) {
        if (s.is_ok()) return;
        spdlog::warn("model={} instance {} (pid {}) failed its keep-warm ping ({}); replacing it", name, inst->id,
                     inst->worker->pid(), s.to_string());
        launcher_.kill(inst->worker);  // the next tick reaps it and restores the floor
      });
    }
  }
}

void LadderController::shutdown(std::chrono::milliseconds grace) {
  if (stopping_.exchange(true)) return;
  pool_.set_stopping();
  std::lock_guard tick_lock(tick_mu_);
  for (ModelState* m : models_) {
    std::vector<std::shared_ptr<Instance>> instances;
    std::shared_ptr<ZygoteHandle> zygote;
    {
      Deferred later;
      std::lock_guard lock(m->mu);
      pool_.fail_waiters(*m, make_error(Code::kUnavailable, "the server is shutting down"), later);
      instances = std::move(m->instances);
      m->instances.clear();
      zygote = std::move(m->zygote);
      for (auto& s : m->starts) s.abandoned = true;  // stopped as they come in
    }
    for (auto& i : instances) launcher_.stop(i->worker, grace, nullptr);
    if (zygote) launcher_.stop_zygote(std::move(zygote), grace, nullptr);
  }
  launcher_.drain(grace + std::chrono::seconds(5));
}

}  // namespace thaw::manager
