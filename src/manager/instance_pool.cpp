#include "manager/instance_pool.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace thaw::manager {

using policy::Rung;

// ---------------------------------------------------------------- Lease

Lease::Lease(InstancePool* pool, ModelState* model, std::shared_ptr<Instance> instance, Nanos queued,
             std::optional<Rung> cold_from)
    : pool_(pool), model_(model), instance_(std::move(instance)), queued_(queued), cold_from_(cold_from) {}

Lease::Lease(Lease&& o) noexcept
    : pool_(o.pool_), model_(o.model_), instance_(std::move(o.instance_)), queued_(o.queued_),
      cold_from_(o.cold_from_), failed_(o.failed_) {
  o.pool_ = nullptr;
}

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = o.pool_;
    model_ = o.model_;
    instance_ = std::move(o.instance_);
    queued_ = o.queued_;
    cold_from_ = o.cold_from_;
    failed_ = o.failed_;
    o.pool_ = nullptr;
  }
  return *this;
}

Lease::~Lease() { release(); }

void Lease::release() {
  if (pool_ == nullptr) return;
  InstancePool* pool = pool_;
  pool_ = nullptr;
  pool->release(*this);
}

const http::Endpoint& Lease::endpoint() const { return instance_->worker->endpoint(); }
uint64_t Lease::instance_id() const { return instance_->id; }
Status Lease::instance_killed_because() const { return instance_->worker->killed_because(); }
std::weak_ptr<const void> Lease::instance_token() const { return std::shared_ptr<const void>(instance_); }
std::chrono::milliseconds Lease::request_timeout() const { return model_->config.request_timeout; }

// ---------------------------------------------------------------- pool

bool InstancePool::has_instance(const ModelState& m, Tier tier) {
  return m.live(false) + (tier == Tier::kPremium ? m.live(true) : 0) > 0;
}

std::shared_ptr<Instance> InstancePool::pick(ModelState& m, Tier tier) const {
  if (m.canary.percent > 0) {
    // Every request in order: the canary's share, spread evenly (request n goes to the canary when
    // its cumulative share crosses a whole request); the other group when that one is full.
    const uint64_t n = m.canary.seen++;
    const uint64_t p = static_cast<uint64_t>(m.canary.percent);
    const bool canary = (n + 1) * p / 100 > n * p / 100;
    if (auto inst = pick_in(m, tier, canary)) return inst;
    return pick_in(m, tier, !canary);
  }
  return pick_in(m, tier, std::nullopt);
}

std::shared_ptr<Instance> InstancePool::pick_in(ModelState& m, Tier tier, std::optional<bool> canary) const {
  std::shared_ptr<Instance> best;
  for (const auto& i : m.instances) {
    if (canary && i->canary != *canary) continue;
    if (i->reserved && tier != Tier::kPremium) continue;
    if (i->dead || i->draining || i->outstanding >= m.config.concurrency) continue;
    if (!best) {
      best = i;
      continue;
    }
    if (tier == Tier::kPremium && i->reserved != best->reserved) {
      if (i->reserved) best = i;  // premium prefers its reserved pool
      continue;
    }
    if (i->outstanding < best->outstanding) best = i;
  }
  return best;
}

Lease InstancePool::grant(ModelState& m, std::shared_ptr<Instance> inst, Nanos enqueued, std::optional<Rung> cold) {
  ++inst->outstanding;
  ++m.in_flight;
  return Lease(this, &m, std::move(inst), clock_.now() - enqueued, cold);
}

void InstancePool::finish(ModelState& m, Waiter& w) {
  w.finished = true;
  --m.waiting;
  --waiting_total_;
  if (m.waiting == 0) m.earliest_deadline = Nanos::max();
}

WaitTicket InstancePool::acquire(ModelState& m, Tier tier, std::optional<Nanos> deadline, AcquireDone done) {
  Deferred later;
  if (stopping_) {
    done(make_error(Code::kUnavailable, "the server is shutting down"));
    return {};
  }
  const Nanos now = clock_.now();
  bool unloaded;
  {
    std::lock_guard lock(m.mu);
    unloaded = m.unloaded;
    if (unloaded) ++m.counters.rejected;
  }
  if (unloaded) {
    done(make_error(Code::kUnavailable, "model '{}' is unloaded; POST /v2/repository/models/{}/load serves it again",
                    m.config.name, m.config.name));
    return {};
  }
  events_->invoked(m, now);
  std::unique_lock lock(m.mu);
  m.last_request = now;
  m.holding = false;  // the next idle period follows the policy again
  m.in_idle_period = false;
  if (auto inst = pick(m, tier)) {
    auto lease = grant(m, std::move(inst), now, std::nullopt);
    lock.unlock();
    done(std::move(lease));
    return {};
  }
  const auto& cfg = m.config;
  auto refuse = [&](Status why) {
    ++m.counters.rejected;
    lock.unlock();
    done(std::move(why));
    return WaitTicket{};
  };
  if (m.waiting >= cfg.queue_limit)
    return refuse(make_error(Code::kResourceExhausted, "model '{}' has {} requests waiting, its queue limit; retry later",
                             cfg.name, m.waiting));
  if (tier == Tier::kBatch &&
      static_cast<double>(m.waiting) >= options_.batch_shed_fraction * static_cast<double>(cfg.queue_limit))
    return refuse(make_error(Code::kResourceExhausted, "batch request shed: model '{}' has {} requests waiting; retry later",
                             cfg.name, m.waiting));
  if (waiting_total_ >= options_.max_waiting)
    return refuse(make_error(Code::kResourceExhausted, "the server has {} requests waiting, its limit; retry later",
                             waiting_total_.load()));
  const bool cold = !has_instance(m, tier);
  if (cold && m.starting(false) == 0 && now < m.start_backoff_until) {
    lock.unlock();
    done(make_error(Code::kUnavailable, "model '{}' failed to start ({}); the next attempt is in {:.1f} s", cfg.name,
                    m.last_error.to_string(), to_seconds(m.start_backoff_until - now)));
    return {};
  }
  if (m.live() == 0) events_->waiting_at_zero(m);
  auto w = std::make_shared<Waiter>();
  w->tier = tier;
  w->enqueued = now;
  w->deadline = now + cfg.queue_timeout;
  if (deadline && *deadline < w->deadline) w->deadline = *deadline;
  if (cold) w->cold_from = events_->start_rung(m);
  w->done = std::move(done);
  m.waiters[index(tier)].push_back(w);
  ++m.waiting;
  ++waiting_total_;
  m.earliest_deadline = std::min(m.earliest_deadline, w->deadline);
  events_->need_capacity(m, later);
  dispatch(m, later);  // a start may have completed inline (never with a real launcher)
  const Nanos at = w->deadline;
  lock.unlock();
  events_->deadline_added(at);  // the timer ignores it unless it sleeps past it
  return WaitTicket{&m, w};
}

void InstancePool::cancel(const WaitTicket& ticket) {
  if (!ticket.queued()) return;
  auto w = ticket.waiter.lock();
  if (!w) return;
  ModelState& m = *ticket.model;
  Deferred later;
  std::lock_guard lock(m.mu);
  if (w->finished) return;
  finish(m, *w);
  ++m.counters.cancelled;
  later.add([done = std::move(w->done)] { done(make_error(Code::kCancelled, "the request was cancelled")); });
  if (m.idle()) events_->went_idle(m, clock_.now());
}

void InstancePool::dispatch(ModelState& m, Deferred& later) {
  for (Tier t : kAllTiers) {
    auto& queue = m.waiters[index(t)];
    while (!queue.empty()) {
      if (queue.front()->finished) {
        queue.pop_front();
        continue;
      }
      auto inst = pick(m, t);
      if (!inst) break;
      std::shared_ptr<Waiter> w = std::move(queue.front());
      queue.pop_front();
      finish(m, *w);
      auto lease = std::make_shared<Lease>(grant(m, std::move(inst), w->enqueued, w->cold_from));
      later.add([done = std::move(w->done), lease] { done(std::move(*lease)); });
    }
  }
}

void InstancePool::fail_waiters(ModelState& m, const Status& why, Deferred& later) {
  for (auto& queue : m.waiters) {
    for (auto& w : queue) {
      if (w->finished) continue;
      finish(m, *w);
      later.add([done = std::move(w->done), why] { done(why); });
    }
    queue.clear();
  }
  m.earliest_deadline = Nanos::max();
}

void InstancePool::expire(ModelState& m, Nanos now, Deferred& later) {
  if (now < m.earliest_deadline) return;
  Nanos earliest = Nanos::max();
  bool expired = false;
  for (auto& queue : m.waiters) {
    for (auto it = queue.begin(); it != queue.end();) {
      Waiter& w = **it;
      if (w.finished) {
        it = queue.erase(it);
        continue;
      }
      if (w.deadline > now) {
        earliest = std::min(earliest, w.deadline);
        ++it;
        continue;
      }
      finish(m, w);
      expired = true;
      ++m.counters.timeouts;
      const int running = m.live(), starting = m.starting();
      later.add([done = std::move(w.done), name = m.config.name, waited = w.deadline - w.enqueued, running, starting] {
        done(make_error(Code::kDeadlineExceeded, "no instance of '{}' had a free slot within {:.0f} ms ({} running, {} starting)",
                        name, to_ms(waited), running, starting));
      });
      it = queue.erase(it);
    }
  }
  m.earliest_deadline = earliest;
  if (expired && m.idle()) events_->went_idle(m, now);
}

void InstancePool::release(Lease& lease) {
  ModelState& m = *lease.model_;
  auto& inst = lease.instance_;
  Deferred later;
  std::lock_guard lock(m.mu);
  const Nanos now = clock_.now();
  --inst->outstanding;
  --m.in_flight;
  inst->last_used = now;
  if (lease.failed_) {
    if (!inst->dead && !inst->worker->alive()) {
      inst->dead = true;
      if (!inst->broken) ++m.counters.instance_deaths;
      spdlog::warn("model={} instance {} (pid {}) died under a request", m.config.name, inst->id, inst->worker->pid());
      std::erase(m.instances, inst);
    } else if (!inst->dead && !inst->draining) {
      // Still exiting (sockets close before the process is reapable) or broken while running:
      // no new request may pick it, so a retry lands elsewhere; the controller stops it once idle.
      inst->draining = true;
      inst->broken = true;
      ++m.counters.instance_deaths;
      spdlog::warn("model={} instance {} (pid {}) failed a request; draining it", m.config.name, inst->id,
                   inst->worker->pid());
    }
    if (inst->worker->forked() && (!m.zygote || (!m.zygote_starting && !m.zygote->alive()))) {
      // Its template is gone, so its siblings are stopping too: the retry must not pick one.
      m.drain_forked();
    }
    if (m.waiting > 0) {
      if (m.live() == 0) events_->waiting_at_zero(m);
      events_->need_capacity(m, later);
    }
  }
  dispatch(m, later);
  if (m.idle()) events_->went_idle(m, now);
}

}  // namespace thaw::manager
