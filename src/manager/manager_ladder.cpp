// The timed side of the manager: reaping, floors, idle plans, keep-warm pings and the memory budget.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "loader/page_cache.h"
#include "manager/manager_impl.h"

namespace thaw::manager {

using policy::Rung;

namespace {
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr auto kMemoryPeriod = std::chrono::seconds(1);
constexpr auto kScaleInIdle = std::chrono::seconds(60);  // a busy model's spare instance idle this long stops

// Idle shared instances above the floor; removed from the model (so no request picks them).
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

void stop_all(const std::vector<std::shared_ptr<Instance>>& instances, const std::string& model, const char* why) {
  for (const auto& i : instances) {
    if (i->broken) {
      // It failed a request (died, stopping, or past the request timeout): whatever it still
      // runs was abandoned, and a graceful stop would hold the tick for the whole grace.
      spdlog::info("model={} killing instance {} (pid {}): it failed a request", model, i->id, i->process->pid());
      i->process->kill();
      continue;
    }
    spdlog::info("model={} stopping instance {} (pid {}): {}", model, i->id, i->process->pid(), why);
    i->process->stop(kStopGrace);
  }
}
}  // namespace

Status Manager::hold(const std::string& name, Rung rung) {
  Impl& impl = *impl_;
  ModelState* m = impl.find(name);
  if (m == nullptr)
    return make_error(Code::kNotFound, "unknown model '{}'; GET /admin/models lists the models", name);
  if (impl.stopping) return make_error(Code::kUnavailable, "the server is shutting down");
  {
    std::lock_guard lock(m->mu);
    m->holding = true;
    m->plan = policy::IdlePlan(rung);
    m->idle_since = clock_.now();
  }
  spdlog::info("model={} held at rung {}", name, policy::rung_name(rung));
  return impl.apply_rung(*m, rung, true);
}

Status Manager::Impl::apply_rung(ModelState& m, Rung target, bool wait) {
  if (target == Rung::kZygote && !m.zygote_safe) target = Rung::kPageCache;  // its backend cannot fork
  std::vector<std::shared_ptr<Instance>> victims;
  std::shared_ptr<ZygoteProcess> zygote_victim;
  bool need_zygote = false, need_instance = false;
  Rung previous;
  {
    std::lock_guard lock(m.mu);
    previous = m.applied;
    if (target != Rung::kWarm) victims = take_idle_spares(m, m.config.min_instances);
    if (target > Rung::kZygote && m.zygote) zygote_victim = std::move(m.zygote);
    need_zygote = target == Rung::kZygote && !m.zygote && !m.zygote_starting;
    need_instance = target == Rung::kWarm && m.live(false) == 0 && m.starting_shared == 0;
    if (need_instance) ++m.starting_shared;
    if (!need_instance) m.applied = target;
  }
  stop_all(victims, m.config.name, "idle plan");
  if (zygote_victim) {
    spdlog::info("model={} stopping zygote (pid {})", m.config.name, zygote_victim->pid());
    zygote_victim->stop(kStopGrace);
  }
  std::function<Status()> work;
  if (need_instance) {
    work = [this, &m] { return start_instance(m, false); };
  } else if (need_zygote) {
    work = [this, &m] { return start_zygote(m); };
  } else if (target == Rung::kPageCache && previous != Rung::kPageCache) {
    work = [&m] {
      Status s = loader::warm_page_cache(m.config.bundle);
      if (!s.is_ok()) spdlog::warn("model={} page-cache warming failed: {}", m.config.name, s.to_string());
      return s;
    };
  } else if (target == Rung::kDisk && previous != Rung::kDisk) {
    work = [&m] {
      Status s = loader::evict(m.config.bundle);
      if (!s.is_ok()) spdlog::warn("model={} page-cache eviction failed: {}", m.config.name, s.to_string());
      return s;
    };
  }
  if (!work) return Status::ok();
  if (wait) return run_task_and_wait(work);
  run_task([work] { (void)work(); });
  return Status::ok();
}

void Manager::tick() {
  Impl& impl = *impl_;
  std::lock_guard tick_lock(impl.tick_mu);
  if (impl.stopping) return;
  const Nanos now = clock_.now();
  for (auto& mp : impl.models) {
    ModelState& m = *mp;
    std::vector<std::shared_ptr<Instance>> victims;
    std::optional<Rung> target;
    {
      std::lock_guard lock(m.mu);
      for (auto it = m.instances.begin(); it != m.instances.end();) {
        auto& i = *it;
        if (!i->dead && i->process->alive()) {
          ++it;
          continue;
        }
        if (!i->dead && !i->broken) {
          ++m.counters.instance_deaths;
          spdlog::warn("model={} instance {} (pid {}) exited unexpectedly", m.config.name, i->id, i->process->pid());
        }
        i->dead = true;
        it = m.instances.erase(it);
      }
      if (m.zygote && !m.zygote_starting && !m.zygote->alive()) {
        spdlog::warn("model={} zygote (pid {}) exited unexpectedly", m.config.name, m.zygote->pid());
        m.zygote.reset();
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
      if (now >= m.start_backoff_until) {
        while (m.live(true) + m.starting_reserved < m.config.reserved_instances) impl.start_instance_async(m, true);
        while (m.live(false) + m.starting_shared < m.config.min_instances) impl.start_instance_async(m, false);
        if (m.waiting() > 0) impl.scale_up(m);
      }
      if (m.idle()) {
        target = m.plan.rung_at(now - m.idle_since);
        if (*target == m.applied && !(*target == Rung::kWarm && m.live(false) == 0 && m.starting_shared == 0))
          target.reset();
        if (target && *target == Rung::kWarm && m.live(false) > 0) {
          m.applied = Rung::kWarm;
          target.reset();
        }
      } else {
        // A busy model keeps one shared instance, and any that served within the last minute.
        int keep = std::max(1, m.config.min_instances);
        int seen = 0;
        for (auto it = m.instances.begin(); it != m.instances.end();) {
          auto& i = *it;
          if (i->reserved || i->draining || i->outstanding > 0 || now - i->last_used < kScaleInIdle ||
              ++seen <= keep) {
            ++it;
            continue;
          }
          victims.push_back(std::move(i));
          it = m.instances.erase(it);
        }
      }
    }
    stop_all(victims, m.config.name, "idle");
    if (target) (void)impl.apply_rung(m, *target, false);
  }
  if (now - impl.last_memory >= kMemoryPeriod) {
    impl.last_memory = now;
    impl.measure_memory();
  }
  if (options_.ping_interval.count() > 0 && now - impl.last_ping >= options_.ping_interval) {
    impl.last_ping = now;
    impl.ping_floors();
  }
}

void Manager::Impl::measure_memory() {
  uint64_t total = 0;
  for (auto& m : models) {
    std::vector<std::shared_ptr<Instance>> instances;
    std::shared_ptr<ZygoteProcess> zygote;
    {
      std::lock_guard lock(m->mu);
      instances = m->instances;
      zygote = m->zygote;
    }
    uint64_t zygote_pss = 0;
    for (auto& i : instances) {
      auto pss = pss_bytes(i->process->pid());
      uint64_t v = pss.is_ok() ? *pss : 0;
      std::lock_guard lock(m->mu);
      i->pss = v;
      total += v;
    }
    if (zygote) {
      auto pss = pss_bytes(zygote->pid());
      zygote_pss = pss.is_ok() ? *pss : 0;
      total += zygote_pss;
    }
    std::lock_guard lock(m->mu);
    m->zygote_pss = zygote_pss;
  }
  memory_total = total;
  if (options->memory_budget_bytes > 0 && total > options->memory_budget_bytes) enforce_budget(total, nullptr, 0);
}

Status Manager::Impl::make_room(const ModelState& for_model, uint64_t bytes) {
  const uint64_t budget = options->memory_budget_bytes;
  if (budget == 0) return Status::ok();
  const uint64_t total = memory_total;
  if (total + bytes <= budget) return Status::ok();
  enforce_budget(total, &for_model, bytes);
  if (memory_total + bytes <= budget) return Status::ok();
  return make_error(Code::kResourceExhausted,
                    "memory budget: {} MiB in use + ~{} MiB for '{}' exceeds {} MiB, and nothing idle is left to "
                    "demote; raise server.memory_budget_mb or lower min_instances",
                    memory_total >> 20, bytes >> 20, for_model.config.name, budget >> 20);
}

void Manager::Impl::enforce_budget(uint64_t total, const ModelState* spare, uint64_t extra) {
  const uint64_t budget = options->memory_budget_bytes;
  // Least recently used idle models first; the model asking for room is demoted last of all.
  // A snapshot, one lock at a time: sorting under the locks could deadlock two concurrent callers
  // (A then B against B then A), and keys changing mid-sort break std::sort.
  std::vector<std::pair<Nanos, ModelState*>> order;
  for (auto& m : models) {
    if (m.get() == spare) continue;
    std::lock_guard lock(m->mu);
    order.emplace_back(m->last_request, m.get());
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto [last_request, m] : order) {
    if (total + extra <= budget) break;
    std::vector<std::shared_ptr<Instance>> victims;
    std::shared_ptr<ZygoteProcess> zygote;
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
    stop_all(victims, m->config.name, "memory budget");
    if (zygote) zygote->stop(kStopGrace);
    total = total > freed ? total - freed : 0;
  }
  memory_total = total;
}

void Manager::Impl::ping_floors() {
  for (auto& m : models) {
    std::vector<std::pair<std::shared_ptr<Instance>, std::unique_ptr<http::Client>>> targets;
    {
      std::lock_guard lock(m->mu);
      if (m->config.min_instances + m->config.reserved_instances == 0) continue;
      for (auto& i : m->instances) {
        if (i->dead || i->draining || i->outstanding > 0) continue;
        // A fresh connection with a short timeout: a hung instance must not hold up the tick.
        auto c = std::make_unique<http::Client>(
            http::ClientOptions{i->process->endpoint(), std::chrono::seconds(2), 1 << 20, "thaw"});
        targets.emplace_back(i, std::move(c));
      }
    }
    for (auto& [inst, client] : targets) {
      auto r = client->get("/warm");
      std::lock_guard lock(m->mu);
      if (r.is_ok() && r->status == 200) continue;
      spdlog::warn("model={} instance {} (pid {}) failed its keep-warm ping ({}); replacing it", m->config.name,
                   inst->id, inst->process->pid(),
                   r.is_ok() ? fmt::format("HTTP {}", r->status) : r.status().to_string());
      inst->process->kill();
    }
  }
}

}  // namespace thaw::manager
