// The request side of the manager: hands each request a slot on the least-loaded live instance of
// its model, or queues it (premium first, batch last, bounded, shed under pressure) until one is
// free. A queued request is state: its callback runs when a slot is granted, the model cannot
// start, its deadline passes (on the injected clock) or it is cancelled. No thread waits.
//
// Thread-safety: every member may be called from any thread. Model state is guarded by the
// model's mutex; callbacks (AcquireDone) always run after it is released, on the thread whose
// action decided them (the acquiring thread, a releasing one, a start's, or the timer's).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "manager/lease.h"
#include "manager/model_state.h"

namespace thaw::manager {

// Callbacks decided under a lock, run once it is released: declare before the lock.
class Deferred {
 public:
  Deferred() = default;
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  ~Deferred() { run(); }
  void add(std::function<void()> fn) { fns_.push_back(std::move(fn)); }
  void run() {
    while (!fns_.empty()) {
      auto fns = std::move(fns_);
      fns_.clear();
      for (auto& fn : fns) fn();
    }
  }

 private:
  std::vector<std::function<void()>> fns_;
};

// What the pool tells the rest of the manager (the ladder controller).
class PoolEvents {
 public:
  virtual ~PoolEvents() = default;
  // A request arrived for the model (no lock held).
  virtual void invoked(ModelState& m, Nanos now) = 0;
  // Requests wait and slots may be short: start what is needed. Model mutex held: decide here,
  // and put work that must not run under it (launching, other models' locks) in `later`.
  virtual void need_capacity(ModelState& m, Deferred& later) = 0;
  // Nothing in flight, nothing waiting since `now`. Model mutex held.
  virtual void went_idle(ModelState& m, Nanos now) = 0;
  // The rung a cold request climbs from now (for cold_from). Model mutex held; cheap.
  virtual policy::Rung start_rung(const ModelState& m) = 0;
  // A queue deadline at `at` was added: wake the timer if it sleeps past it (no lock held).
  virtual void deadline_added(Nanos at) = 0;
  // A request is about to wait and the model has no live instance. Model mutex held: called before
  // anything slow (the start's residency check, the launch), so that outside scalers hear at once.
  virtual void waiting_at_zero(ModelState& m) = 0;
};

// A queued request, for cancel().
struct WaitTicket {
  ModelState* model = nullptr;
  std::weak_ptr<Waiter> waiter;
  bool queued() const { return model != nullptr; }
};

struct PoolOptions {
  size_t max_waiting = 10'000;       // requests waiting over all models
  double batch_shed_fraction = 0.5;  // batch is shed once a model's queue is this full
};

class InstancePool {
 public:
  InstancePool(const Clock& clock, PoolOptions options) : clock_(clock), options_(options) {}
  // Who hears about requests (the ladder controller); set once, before the first request.
  void set_events(PoolEvents& events) { events_ = &events; }

  // A slot now (`done` runs before this returns) or later. Refusals, also through `done`:
  // kResourceExhausted queue full or batch shed; kUnavailable the model cannot start (why) or
  // the manager is stopping; kDeadlineExceeded no slot by the deadline (the model's queue timeout,
  // or `deadline` if sooner); kCancelled cancel(). Returns the ticket of a queued request.
  WaitTicket acquire(ModelState& m, Tier tier, std::optional<Nanos> deadline, AcquireDone done);
  // The request gives up (its client went away): `done` gets kCancelled unless already decided.
  void cancel(const WaitTicket& ticket);

  // Under the model's mutex (the controller's side):
  // grants free slots to waiting requests, premium first;
  void dispatch(ModelState& m, Deferred& later);
  // refuses every waiting request with `why`;
  void fail_waiters(ModelState& m, const Status& why, Deferred& later);
  // refuses the waiting requests whose deadline has passed;
  void expire(ModelState& m, Nanos now, Deferred& later);
  // whether a request of this tier would find a running instance (busy or not).
  static bool has_instance(const ModelState& m, Tier tier);

  size_t waiting_total() const { return waiting_total_.load(); }
  void set_stopping() { stopping_ = true; }

 private:
  friend class Lease;
  void release(Lease& lease);
  std::shared_ptr<Instance> pick(ModelState& m, Tier tier) const;
  // The least busy instance with room, of the canary group, the other, or (nullopt) either.
  std::shared_ptr<Instance> pick_in(ModelState& m, Tier tier, std::optional<bool> canary) const;
  Lease grant(ModelState& m, std::shared_ptr<Instance> inst, Nanos enqueued, std::optional<policy::Rung> cold);
  void finish(ModelState& m, Waiter& w);

  PoolEvents* events_ = nullptr;
  const Clock& clock_;
  PoolOptions options_;
  std::atomic<size_t> waiting_total_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace thaw::manager
