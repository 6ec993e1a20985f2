// The ladder controller's events and ticks: following the plan, floors, reaping, start timeouts.
#include "manager/ladder_controller.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace thaw::manager {

using policy::Rung;

LadderController::LadderController(std::vector<ModelState*> models, InstancePool& pool, Launcher& launcher,
                                   PolicyGate& policy, const Clock& clock, ControllerOptions options)
    : models_(std::move(models)), pool_(pool), launcher_(launcher), policy_(policy), clock_(clock),
      options_(std::move(options)) {}

// ---------------------------------------------------------------- pool events

void LadderController::invoked(ModelState& m, Nanos now) {
  policy_.on_invocation(m.app, now);
  apply_revisions(now);  // a request may make the policy evict other models
}

void LadderController::apply_revisions(Nanos now) {
  std::vector<policy::PlanRevision> revisions;
  policy_.take_revisions(revisions);
  for (auto& r : revisions) {
    if (r.app >= models_.size()) continue;
    ModelState& m = *models_[r.app];
    {
      std::lock_guard lock(m.mu);
      // Only the idle period the policy revised: a request since then has begun another.
      if (!m.idle() || !m.in_idle_period || m.holding || m.idle_since != r.idle_since) continue;
      m.plan = std::move(r.plan);
    }
    if (options_.replanned) options_.replanned(m);
    if (options_.wake) options_.wake(now);
  }
}

void LadderController::need_capacity(ModelState& m, Deferred& later) { scale_up(m, later); }

// Published under the model mutex, the one event that is: the request's own residency check and
// launch take milliseconds, and KEDA should not wait for them. Listeners return at once.
void LadderController::waiting_at_zero(ModelState& m) {
  m.demand_active = true;
  if (options_.demand != nullptr) options_.demand->publish(m.config.name, DemandEvent::kWaitingAtZero);
}

void LadderController::publish_active(ModelState& m, DemandEvent event, Deferred& later) {
  m.demand_active = true;
  if (options_.demand == nullptr) return;
  later.add([hub = options_.demand, name = m.config.name, event] { hub->publish(name, event); });
}

void LadderController::note_activity(ModelState& m) {
  if (options_.demand == nullptr) return;
  bool changed, active;
  {
    std::lock_guard lock(m.mu);
    active = !m.idle() || m.live() + m.starting() > 0;
    changed = active != m.demand_active;
    m.demand_active = active;
  }
  if (changed) options_.demand->publish(m.config.name, active ? DemandEvent::kBecameActive : DemandEvent::kFellToZero);
}

void LadderController::went_idle(ModelState& m, Nanos now) {
  // A start that completes while the model is idle (a pre-warm, a floor) does not begin a new
  // idle period: the policy is told only when requests end one.
  if (m.in_idle_period) return;
  m.in_idle_period = true;
  m.idle_since = now;
  if (m.holding) return;
  policy_.on_idle(m.app, now, m.plan);
}

Rung LadderController::start_rung(const ModelState& m) {
  if (m.zygote && !m.zygote_starting && m.zygote_safe) return Rung::kZygote;
  if (m.starting(false) > 0) return m.start_rung;
  return launcher_.storage_rung(m.config.bundle);
}

void LadderController::deadline_added(Nanos at) {
  if (options_.wake) options_.wake(at);
}

Rung LadderController::rung_of(const ModelState& m) const {
  if (m.live() > 0) return Rung::kWarm;
  if (m.zygote) return Rung::kZygote;
  // At the bottom, a model whose bundle has no local copy sits at the registry rung.
  if (m.applied == Rung::kDisk && launcher_.fetch_cost_ms(m.config.bundle) > 0.0) return Rung::kRegistry;
  return m.applied;
}

void LadderController::scale_up(ModelState& m, Deferred& later) {
  if (stopping_ || clock_.now() < m.start_backoff_until) return;
  int total = m.live() + m.starting();
  int wanted = (static_cast<int>(m.waiting) + m.config.concurrency - 1) / m.config.concurrency - m.starting(false);
  while (wanted-- > 0 && total++ < m.config.max_instances) start_instance(m, false, later);
}

void LadderController::start_in_background(ModelState& m) {
  if (stopping_) return;
  const Nanos now = clock_.now();
  policy_.on_invocation(m.app, now);
  apply_revisions(now);
  Deferred later;
  std::lock_guard lock(m.mu);
  m.last_request = now;
  m.holding = false;
  m.in_idle_period = false;
  if (m.live(false) + m.starting(false) == 0 && now >= m.start_backoff_until) start_instance(m, false, later);
  if (m.idle()) went_idle(m, now);  // nothing waits for that start
}

// ---------------------------------------------------------------- ticks

// The rung an idle model's plan wants now, when that asks for an action; model mutex held.
// Warm means "keep what is warm": only a step that begins after the idle period did (a scheduled
// pre-warm) starts an instance, and not during a start's back-off.
std::optional<Rung> LadderController::planned_rung(const ModelState& m, Nanos now) const {
  const Nanos offset = now - m.idle_since;
  Rung r = m.plan.rung_at(offset);
  if (r == Rung::kZygote && !m.zygote_safe) r = Rung::kPageCache;
  if (r == Rung::kWarm) {
    if (m.live(false) > 0) return r;
    if (m.starting(false) > 0 || now < m.start_backoff_until) return std::nullopt;
    Nanos step_start{0};
    for (const auto& step : m.plan.steps())
      if (step.start <= offset) step_start = step.start;
    return step_start > Nanos{0} ? std::optional<Rung>(r) : std::nullopt;
  }
  if (r == m.applied) return std::nullopt;
  return r;
}

std::vector<std::shared_ptr<Instance>> take_idle_spares(ModelState& m, int keep) {
  std::vector<std::shared_ptr<Instance>> out;
  int kept = 0;
  for (auto it = m.instances.begin(); it != m.instances.end();) {
    auto& i = *it;
    if (i->reserved || i->dead) {
      ++it;
      continue;
    }
    if (!i->draining && kept < keep) {
      ++kept;
      ++it;
      continue;
    }
    if (i->outstanding > 0) {
      i->draining = true;  // stopped by a later tick once its requests finish
      ++it;
      continue;
    }
    out.push_back(std::move(i));
    it = m.instances.erase(it);
  }
  return out;
}

void LadderController::tick() {
  std::lock_guard tick_lock(tick_mu_);
  if (stopping_) return;
  const Nanos now = clock_.now();
  policy_.tick(now);
  apply_revisions(now);
  for (ModelState* m : models_) tick_model(*m, now);
  if (now - last_memory_ >= options_.memory_interval) {
    last_memory_ = now;
    measure_memory();
  }
  if (now - last_costs_ >= options_.costs_interval) {
    last_costs_ = now;
    refresh_costs();
  }
  if (options_.ping_interval.count() > 0 && now - last_ping_ >= options_.ping_interval) {
    last_ping_ = now;
    ping_floors();
  }
}

void LadderController::tick_model(ModelState& m, Nanos now) {
  if (stopping_) return;
  std::vector<std::shared_ptr<Instance>> victims;
  std::optional<Rung> target;
  {
    Deferred later;
    std::lock_guard lock(m.mu);
    for (auto it = m.instances.begin(); it != m.instances.end();) {
      auto& i = *it;
      if (!i->dead && i->worker->alive()) {
        ++it;
        continue;
      }
      if (!i->dead && !i->broken) {
        ++m.counters.instance_deaths;
        spdlog::warn("model={} instance {} (pid {}) exited unexpectedly", m.config.name, i->id, i->worker->pid());
      }
      i->dead = true;
      it = m.instances.erase(it);
    }
    if (m.zygote && !m.zygote_starting && !m.zygote->alive()) {
      spdlog::warn("model={} zygote (pid {}) exited unexpectedly", m.config.name, m.zygote->pid());
      m.zygote.reset();
      m.zygote_pss = 0;
      m.drain_forked();
    }
    // Draining instances whose requests have finished.
    for (auto it = m.instances.begin(); it != m.instances.end();) {
      if ((*it)->draining && (*it)->outstanding == 0) {
        victims.push_back(std::move(*it));
        it = m.instances.erase(it);
      } else {
        ++it;
      }
    }
    // Starts past their timeout are abandoned (a late success is stopped when it comes).
    for (auto& s : m.starts) {
      if (s.abandoned || now - s.asked < m.config.start_timeout) continue;
      s.abandoned = true;
      spdlog::error("model={} an instance did not start within {} ms; abandoning it", m.config.name,
                    m.config.start_timeout.count());
      start_failed(m, make_error(Code::kDeadlineExceeded, "the instance did not start within start_timeout_ms={}",
                                 m.config.start_timeout.count()),
                   later);
      if (s.done) later.add([done = std::move(s.done)] { done(make_error(Code::kDeadlineExceeded, "start timed out")); });
    }
    pool_.expire(m, now, later);
    if (now >= m.start_backoff_until && !stopping_) {
      while (m.live(true) + m.starting(true) < m.config.reserved_instances) start_instance(m, true, later);
      while (m.live(false) + m.starting(false) < m.config.min_instances) start_instance(m, false, later);
      if (m.waiting > 0) scale_up(m, later);
    }
    if (m.idle()) {
      target = planned_rung(m, now);
      if (target && *target == Rung::kWarm && m.live(false) > 0) {
        m.applied = Rung::kWarm;
        target.reset();
      }
    } else {
      // A busy model keeps one shared instance, and any that served within scale_in_idle.
      int keep = std::max(1, m.config.min_instances);
      int seen = 0;
      for (auto it = m.instances.begin(); it != m.instances.end();) {
        auto& i = *it;
        if (i->reserved || i->draining || i->outstanding > 0 || now - i->last_used < options_.scale_in_idle ||
            ++seen <= keep) {
          ++it;
          continue;
        }
        victims.push_back(std::move(i));
        it = m.instances.erase(it);
      }
    }
  }
  stop_instances(victims, m, "idle");
  if (target) apply_rung(m, *target, nullptr);
  note_activity(m);
}

std::optional<Nanos> LadderController::next_wakeup(const ModelState& m, Nanos now) const {
  std::lock_guard lock(m.mu);
  std::optional<Nanos> at;
  auto consider = [&](Nanos t) {
    if (!at || t < *at) at = std::max(t, now);
  };
  if (m.waiting > 0) consider(m.earliest_deadline);
  for (const auto& s : m.starts)
    if (!s.abandoned) consider(s.asked + m.config.start_timeout);
  const bool floors_short = m.live(true) + m.starting(true) < m.config.reserved_instances ||
                            m.live(false) + m.starting(false) < m.config.min_instances;
  // Floors are kept at a tick; waiters ask for their starts themselves, unless backing off.
  if (floors_short) consider(std::max(now, m.start_backoff_until));
  if (m.waiting > 0 && now < m.start_backoff_until) consider(m.start_backoff_until);
  for (const auto& i : m.instances)
    if (i->draining && i->outstanding == 0) consider(now);
  if (m.idle()) {
    const Nanos offset = now - m.idle_since;
    if (auto r = planned_rung(m, now); r && !(*r == Rung::kWarm && m.live(false) > 0 && m.applied == Rung::kWarm))
      consider(now);
    if (auto next = m.plan.next_change(offset)) consider(m.idle_since + *next);
    if (m.plan.rung_at(offset) == Rung::kWarm && m.live(false) == 0 && now < m.start_backoff_until)
      consider(m.start_backoff_until);
  } else if (m.live(false) > std::max(1, m.config.min_instances)) {
    for (const auto& i : m.instances)
      if (!i->reserved && !i->draining && i->outstanding == 0) consider(i->last_used + options_.scale_in_idle);
  }
  return at;
}

}  // namespace thaw::manager
