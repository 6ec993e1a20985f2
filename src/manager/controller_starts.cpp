// The ladder controller's moves: starting instances (forked from the zygote when one is up) and
// zygotes, and carrying a model to a rung (admin holds, idle plans).
#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "manager/ladder_controller.h"
#include "protocol/worker_protocol.h"

namespace thaw::manager {

using policy::Rung;

StartSpec LadderController::spec_for(const ModelState& m, uint64_t id, const std::string& bundle) const {
  namespace fs = std::filesystem;
  StartSpec s;
  s.model = m.config.name;
  s.bundle = bundle;
  s.args = {std::string(protocol::kFlagModelName), m.config.name};
  s.args.insert(s.args.end(), m.config.worker_args.begin(), m.config.worker_args.end());
  const fs::path dir = options_.runtime_dir;
  s.log_path = dir.empty() ? "" : (dir / (m.config.name + ".log")).string();
  s.endpoint = http::Endpoint::unix_socket((dir / fmt::format("{}-{}.sock", m.config.name, id)).string());
  s.control_path = (dir / (m.config.name + ".zygote.sock")).string();
  // The controller times starts out on its clock; the launcher's own limit is only a backstop.
  s.ready_timeout = m.config.start_timeout + std::chrono::seconds(5);
  return s;
}

uint64_t LadderController::start_instance(ModelState& m, bool reserved, Deferred& later) {
  const uint64_t id = m.next_start++;
  if (m.starting(false) == 0) m.start_rung = start_rung(m);
  m.starts.push_back(PendingStart{id, reserved, clock_.now(), false, {}});
  later.add([this, &m, id] { launch_instance(m, id); });
  return id;
}

void LadderController::launch_instance(ModelState& m, uint64_t start_id) {
  std::shared_ptr<ZygoteHandle> zygote;
  uint64_t estimate = 0, instance_id = 0;
  std::string bundle;
  {
    std::lock_guard lock(m.mu);
    bundle = m.config.bundle;  // a version switch changes it under the lock
    auto it = std::find_if(m.starts.begin(), m.starts.end(), [&](const PendingStart& s) { return s.id == start_id; });
    if (it == m.starts.end() || it->abandoned) return;
    if (m.zygote_safe && !m.zygote_starting) zygote = m.zygote;
    instance_id = m.next_instance++;
    for (const auto& i : m.instances) estimate = std::max(estimate, i->pss);
  }
  if (zygote && !zygote->alive()) zygote.reset();
  const Rung from = zygote ? Rung::kZygote : launcher_.storage_rung(bundle);
  // A forked instance shares the template's pages; a fresh one faults in what the backend plans.
  if (estimate == 0 && !zygote) estimate = m.start_estimate;
  const Nanos launched = clock_.now();
  Status room = make_room(m, zygote ? (8u << 20) : estimate);
  if (!room.is_ok()) return instance_started(m, start_id, instance_id, from, launched, bundle, room);
  launcher_.start_instance(spec_for(m, instance_id, bundle), zygote,
                           [this, &m, start_id, instance_id, from, launched, bundle](Result<std::shared_ptr<WorkerHandle>> r) {
                             instance_started(m, start_id, instance_id, from, launched, bundle, std::move(r));
                           });
}

void LadderController::start_failed(ModelState& m, const Status& why, Deferred& later) {
  ++m.counters.start_failures;
  m.last_error = why;
  m.start_backoff_until = clock_.now() + options_.start_backoff;
  if (m.live() == 0 && m.starting() == 0) {
    // A fetch from the model's source failed (bad answer: 502, full disk: 507) or not (503).
    const Code code = why.code() == Code::kUpstream || why.code() == Code::kNoSpace ? why.code() : Code::kUnavailable;
    pool_.fail_waiters(m, make_error(code, "model '{}' failed to start: {}", m.config.name, why.to_string()), later);
    if (m.idle()) went_idle(m, clock_.now());
  }
}

void LadderController::instance_started(ModelState& m, uint64_t start_id, uint64_t instance_id, Rung from,
                                        Nanos launched, const std::string& bundle,
                                        Result<std::shared_ptr<WorkerHandle>> result) {
  Deferred later;
  std::unique_lock lock(m.mu);
  auto it = std::find_if(m.starts.begin(), m.starts.end(), [&](const PendingStart& s) { return s.id == start_id; });
  const bool known = it != m.starts.end();
  const bool abandoned = !known || it->abandoned;
  const bool reserved = known && it->reserved;
  std::function<void(Status)> done = known ? std::move(it->done) : nullptr;
  if (known) m.starts.erase(it);
  if (done) later.add([done, st = result.status()] { done(st); });
  if (!result.is_ok()) {
    if (abandoned) return;  // already counted when its time ran out
    spdlog::error("model={} instance {} failed to start: {}", m.config.name, instance_id, result.status().to_string());
    start_failed(m, result.status(), later);
    return;
  }
  std::shared_ptr<WorkerHandle> worker = std::move(result).value();
  if (abandoned || stopping_) {
    lock.unlock();
    launcher_.stop(std::move(worker), std::chrono::seconds(1), nullptr);
    return;
  }
  if (from == Rung::kZygote && !worker->forked()) from = Rung::kPageCache;  // the fork failed; it was spawned
  const Nanos now = clock_.now();
  auto inst = std::make_shared<Instance>();
  inst->id = instance_id;
  inst->worker = std::move(worker);
  inst->reserved = reserved;
  inst->last_used = now;
  inst->draining = bundle != m.config.bundle;  // started before a version switch: the old version
  ++m.counters.cold_starts[policy::index(from)];
  m.counters.cold_start_seconds[policy::index(from)] += to_seconds(now - launched);
  m.applied = Rung::kWarm;
  m.last_error = Status::ok();
  spdlog::info("model={} instance {} (pid {}{}) ready from rung {} in {:.1f} ms", m.config.name, instance_id,
               inst->worker->pid(), reserved ? ", reserved" : "", policy::rung_name(from), to_ms(now - launched));
  m.instances.push_back(std::move(inst));
  pool_.dispatch(m, later);
  if (m.idle()) went_idle(m, now);
}

void LadderController::start_zygote(ModelState& m, std::function<void(Status)> done) {
  bool already = false;
  std::string bundle;
  {
    std::lock_guard lock(m.mu);
    bundle = m.config.bundle;
    already = (m.zygote && m.zygote->alive()) || m.zygote_starting;
    if (!already) m.zygote_starting = true;
  }
  if (already) {
    if (done) done(Status::ok());
    return;
  }
  Status room = make_room(m, m.start_estimate);
  if (!room.is_ok()) {
    {
      std::lock_guard lock(m.mu);
      m.zygote_starting = false;
      m.last_error = room;
    }
    if (done) done(room);
    return;
  }
  const Nanos t0 = clock_.now();
  launcher_.start_zygote(spec_for(m, 0, bundle), [this, &m, done, t0](Result<std::shared_ptr<ZygoteHandle>> z) {
    std::shared_ptr<ZygoteHandle> extra;
    Status st = z.status();
    {
      std::lock_guard lock(m.mu);
      m.zygote_starting = false;
      if (!z.is_ok()) {
        m.last_error = z.status();
        spdlog::error("model={} zygote failed to start: {}", m.config.name, z.status().to_string());
      } else if (stopping_) {
        extra = std::move(z).value();
        st = make_error(Code::kUnavailable, "the server is shutting down");
      } else {
        m.zygote = std::move(z).value();
        spdlog::info("model={} zygote (pid {}) ready in {:.1f} ms", m.config.name, m.zygote->pid(), to_ms(clock_.now() - t0));
      }
    }
    if (extra) launcher_.stop_zygote(std::move(extra), std::chrono::seconds(1), nullptr);
    if (done) done(st);
  });
}

void LadderController::stop_instances(const std::vector<std::shared_ptr<Instance>>& victims, const ModelState& m,
                                      const char* why, std::function<void()> stopped) {
  auto left = std::make_shared<std::atomic<size_t>>(victims.size() + 1);
  auto one_done = [left, stopped = std::move(stopped)] {
    if (left->fetch_sub(1) == 1 && stopped) stopped();
  };
  for (const auto& i : victims) {
    if (i->broken) {
      // It failed a request (died, stopping, or past the request timeout): whatever it still
      // runs was abandoned, and a graceful stop would only wait out the grace.
      spdlog::info("model={} killing instance {} (pid {}): it failed a request", m.config.name, i->id, i->worker->pid());
      launcher_.stop(i->worker, std::chrono::milliseconds(0), [one_done](Status) { one_done(); });
      continue;
    }
    spdlog::info("model={} stopping instance {} (pid {}): {}", m.config.name, i->id, i->worker->pid(), why);
    launcher_.stop(i->worker, options_.stop_grace, [one_done](Status) { one_done(); });
  }
  one_done();
}

void LadderController::apply_rung(ModelState& m, Rung target, std::function<void(Status)> done) {
  std::vector<std::shared_ptr<Instance>> victims;
  std::shared_ptr<ZygoteHandle> zygote_victim;
  bool need_zygote = false, started = false, floors_live = false;
  Rung previous;
  std::string bundle;
  {
    Deferred later;
    std::lock_guard lock(m.mu);
    bundle = m.config.bundle;  // a version switch changes it under the lock
    if (target == Rung::kZygote && !m.zygote_safe) target = Rung::kPageCache;
    previous = m.applied;
    if (target != Rung::kWarm) victims = take_idle_spares(m, m.config.min_instances);
    if (target > Rung::kZygote && m.zygote) {
      zygote_victim = std::move(m.zygote);
      m.zygote_pss = 0;
    }
    need_zygote = target == Rung::kZygote && !m.zygote && !m.zygote_starting;
    if (target == Rung::kWarm && m.live(false) == 0) {
      // Reached when a start (this one, or one already under way) succeeds.
      auto pending = std::find_if(m.starts.begin(), m.starts.end(),
                                  [](const PendingStart& s) { return !s.abandoned && !s.reserved; });
      if (pending == m.starts.end()) {
        start_instance(m, false, later);
        pending = std::prev(m.starts.end());
        if (m.idle()) publish_active(m, DemandEvent::kPrewarmPlanned, later);
      }
      if (done) {
        pending->done = [first = std::move(pending->done), second = std::move(done)](Status s) {
          if (first) first(s);
          second(s);
        };
      }
      started = true;
    } else {
      m.applied = target;
    }
    floors_live = m.live() > 0;
  }
  if (started) {
    stop_instances(victims, m, "idle plan");
    return;
  }
  if (need_zygote) {
    stop_instances(victims, m, "idle plan");
    return start_zygote(m, std::move(done));
  }
  auto report = [name = m.config.name, done = std::move(done)](const char* what) {
    return [name, done, what](Status s) {
      if (!s.is_ok()) spdlog::warn("model={} {} failed: {}", name, what, s.to_string());
      if (done) done(s);
    };
  };
  std::function<void()> then;
  if (target == Rung::kPageCache && previous != Rung::kPageCache) {
    then = [this, bundle, r = report("page-cache warming")] { launcher_.warm_page_cache(bundle, r); };
  } else if (target == Rung::kDisk && previous != Rung::kDisk && !floors_live) {
    // Live floor instances map the bundle: evicting it would only slow their next sibling's start.
    then = [this, bundle, r = report("page-cache eviction")] { launcher_.evict(bundle, r); };
  } else {
    then = [r = report("")] { r(Status::ok()); };
  }
  // Pages a process still maps stay cached: the page-cache move waits until they have exited.
  auto left = std::make_shared<std::atomic<int>>(zygote_victim ? 2 : 1);
  auto step = [left, then = std::move(then)] {
    if (left->fetch_sub(1) == 1) then();
  };
  if (zygote_victim) {
    spdlog::info("model={} stopping zygote (pid {})", m.config.name, zygote_victim->pid());
    launcher_.stop_zygote(std::move(zygote_victim), options_.stop_grace, [step](Status) { step(); });
  }
  stop_instances(victims, m, "idle plan", step);
}

void LadderController::hold(ModelState& m, Rung rung, std::function<void(Status)> done) {
  if (stopping_) {
    if (done) done(make_error(Code::kUnavailable, "the server is shutting down"));
    return;
  }
  {
    std::lock_guard lock(m.mu);
    m.holding = true;
    m.plan = policy::IdlePlan(rung);
    m.idle_since = clock_.now();
    m.in_idle_period = true;
  }
  spdlog::info("model={} held at rung {}", m.config.name, policy::rung_name(rung));
  apply_rung(m, rung, std::move(done));
}

}  // namespace thaw::manager
