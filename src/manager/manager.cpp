#include "manager/manager.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "loader/page_cache.h"
#include "manager/manager_impl.h"
#include "policy/policy_spec.h"

namespace thaw::manager {

using policy::Rung;

// ---------------------------------------------------------------- Lease

Lease::Lease(Manager* manager, ModelState* model, std::shared_ptr<Instance> instance,
             std::unique_ptr<http::Client> client, Nanos queued, std::optional<Rung> cold_from)
    : manager_(manager), model_(model), instance_(std::move(instance)), client_(std::move(client)),
      queued_(queued), cold_from_(cold_from) {}

Lease::Lease(Lease&& o) noexcept
    : manager_(o.manager_), model_(o.model_), instance_(std::move(o.instance_)), client_(std::move(o.client_)),
      queued_(o.queued_), cold_from_(o.cold_from_), failed_(o.failed_) {
  o.manager_ = nullptr;
}

Lease::~Lease() {
  if (manager_ != nullptr) manager_->release(*this);
}

http::Client& Lease::client() { return *client_; }
uint64_t Lease::instance_id() const { return instance_->id; }

// ---------------------------------------------------------------- creation

Manager::Manager(ManagerOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  impl_->options = &options_;
  impl_->clock = &clock_;
}

Result<std::unique_ptr<Manager>> Manager::create(ManagerOptions options, std::vector<ModelConfig> models,
                                                 const Clock& clock) {
  if (models.empty()) return make_error(Code::kInvalidArgument, "no models to serve");
  std::error_code ec;
  if (!std::filesystem::is_directory(options.runtime_dir, ec))
    return make_error(Code::kInvalidArgument, "runtime directory '{}' does not exist", options.runtime_dir);
  auto policy = policy::make_policy(options.policy, options.profile);
  if (!policy.is_ok()) return policy.status().with_context("policy");
  std::unique_ptr<Manager> m(new Manager(std::move(options), clock));
  Impl& impl = *m->impl_;
  impl.policy = std::move(policy).value();
  Nanos now = clock.now();
  for (auto& config : models) {
    auto state = std::make_unique<ModelState>();
    state->app = static_cast<policy::AppId>(impl.models.size());
    uint64_t size = std::filesystem::file_size(config.bundle, ec);
    impl.policy->add_app(state->app, policy::AppInfo{static_cast<double>(ec ? 0 : size) / (1 << 20)});
    const ModelLoadInfo info =
        m->options_.load_info ? m->options_.load_info(config.bundle) : ModelLoadInfo{ec ? 0 : size, true};
    state->start_estimate = info.start_bytes;
    state->zygote_safe = info.zygote_safe;
    state->config = std::move(config);
    state->idle_since = now;
    state->counters.name = state->config.name;
    impl.by_name[state->config.name] = state.get();
    impl.models.push_back(std::move(state));
  }
  impl.start_starters();
  if (m->options_.tick_interval.count() > 0) {
    impl.ticker = std::thread([mgr = m.get()] {
      Impl& i = *mgr->impl_;
      std::unique_lock lock(i.stop_mu);
      while (!i.stopping) {
        i.stop_cv.wait_for(lock, mgr->options_.tick_interval, [&] { return i.stopping.load(); });
        if (i.stopping) break;
        lock.unlock();
        mgr->tick();
        lock.lock();
      }
    });
  }
  return m;
}

Manager::~Manager() { shutdown(); }

void Manager::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(impl_->stop_mu);
    if (impl_->stopping.exchange(true) && !impl_->ticker.joinable() && impl_->starters.empty()) return;
  }
  impl_->stop_cv.notify_all();
  if (impl_->ticker.joinable()) impl_->ticker.join();
  std::vector<std::shared_ptr<Instance>> instances;
  std::vector<std::shared_ptr<ZygoteProcess>> zygotes;
  for (auto& m : impl_->models) {
    std::lock_guard lock(m->mu);
    impl_->fail_waiters(*m, make_error(Code::kUnavailable, "the server is shutting down"));
    for (auto& i : m->instances) instances.push_back(i);
    m->instances.clear();
    if (m->zygote) zygotes.push_back(std::move(m->zygote));
  }
  impl_->stop_starters();  // starts finishing now see `stopping` and stop what they started
  for (auto& i : instances) i->process->stop(grace);
  for (auto& z : zygotes) z->stop(grace);
  for (auto& m : impl_->models) {
    std::lock_guard lock(m->mu);
    m->instances.clear();
    m->zygote.reset();
  }
}

// ---------------------------------------------------------------- requests

std::shared_ptr<Instance> Manager::Impl::pick(ModelState& m, Tier tier) const {
  std::shared_ptr<Instance> best;
  auto better = [&](const std::shared_ptr<Instance>& i) {
    if (i->dead || i->draining || i->outstanding >= m.config.concurrency) return false;
    if (!best) return true;
    if (tier == Tier::kPremium && i->reserved != best->reserved) return i->reserved;
    return i->outstanding < best->outstanding;
  };
  for (const auto& i : m.instances) {
    if (i->reserved && tier != Tier::kPremium) continue;
    if (better(i)) best = i;
  }
  return best;
}

void Manager::Impl::claim(ModelState& m, Instance& inst) {
  ++inst.outstanding;
  ++m.in_flight;
}

void Manager::Impl::dispatch(ModelState& m) {
  for (Tier t : kAllTiers) {
    auto& queue = m.waiters[index(t)];
    while (!queue.empty()) {
      auto inst = pick(m, t);
      if (!inst) break;
      Waiter* w = queue.front();
      queue.pop_front();
      claim(m, *inst);
      w->granted = std::move(inst);
      w->cv.notify_one();
    }
  }
}

void Manager::Impl::fail_waiters(ModelState& m, const Status& why) {
  for (auto& queue : m.waiters) {
    for (Waiter* w : queue) {
      w->failed = why;
      w->cv.notify_one();
    }
    queue.clear();
  }
}

void Manager::Impl::scale_up(ModelState& m) {
  if (stopping || now() < m.start_backoff_until) return;
  int total = 0;
  for (const auto& i : m.instances)
    if (!i->dead && !i->draining) ++total;
  total += m.starting_shared + m.starting_reserved;
  const auto waiting = static_cast<int>(m.waiting());
  int wanted = (waiting + m.config.concurrency - 1) / m.config.concurrency - m.starting_shared;
  while (wanted-- > 0 && total++ < m.config.max_instances) start_instance_async(m, false);
}

Rung Manager::Impl::current_rung(const ModelState& m) const {
  if (m.live(false) + m.live(true) > 0) return Rung::kWarm;
  if (m.zygote && !m.zygote_starting) return Rung::kZygote;
  auto r = loader::residency(m.config.bundle);
  return r.is_ok() && r->fraction() >= 0.5 ? Rung::kPageCache : Rung::kDisk;
}

void Manager::Impl::went_idle(ModelState& m, Nanos t) {
  m.idle_since = t;
  if (m.holding) return;
  std::lock_guard lock(policy_mu);
  m.plan = policy->on_idle(m.app, t);
}

Result<Lease> Manager::acquire(const std::string& name, Tier tier, std::optional<Nanos> deadline) {
  Impl& impl = *impl_;
  ModelState* m = impl.find(name);
  if (m == nullptr)
    return make_error(Code::kNotFound, "unknown model '{}'; GET /v2/repository/index lists the models", name);
  if (impl.stopping) return make_error(Code::kUnavailable, "the server is shutting down");
  const Nanos start = clock_.now();
  {
    std::lock_guard lock(impl.policy_mu);
    impl.policy->on_invocation(m->app, start);
  }
  std::unique_lock lock(m->mu);
  m->last_request = start;
  m->holding = false;  // the next idle period follows the policy again
  auto make_lease = [&](std::shared_ptr<Instance> inst, std::optional<Rung> cold) {
    auto client = inst->take_client(m->config.request_timeout);
    return Lease(this, m, std::move(inst), std::move(client), clock_.now() - start, cold);
  };
  if (auto inst = impl.pick(*m, tier)) {
    impl.claim(*m, *inst);
    return make_lease(std::move(inst), std::nullopt);
  }

  const size_t waiting = m->waiting();
  const auto& cfg = m->config;
  if (waiting >= cfg.queue_limit) {
    ++m->counters.rejected;
    return make_error(Code::kResourceExhausted, "model '{}' has {} requests waiting, its queue limit; retry later",
                      name, waiting);
  }
  if (tier == Tier::kBatch &&
      static_cast<double>(waiting) >= options_.batch_shed_fraction * static_cast<double>(cfg.queue_limit)) {
    ++m->counters.rejected;
    return make_error(Code::kResourceExhausted, "batch request shed: model '{}' has {} requests waiting; retry later",
                      name, waiting);
  }
  if (impl.waiting_total >= options_.max_waiting) {
    ++m->counters.rejected;
    return make_error(Code::kResourceExhausted, "the server has {} requests waiting, its limit; retry later",
                      impl.waiting_total.load());
  }
  const bool cold = m->live(false) + (tier == Tier::kPremium ? m->live(true) : 0) == 0;
  if (cold && m->starting_shared == 0 && start < m->start_backoff_until)
    return make_error(Code::kUnavailable, "model '{}' failed to start ({}); the next attempt is in {:.1f} s", name,
                      m->last_error.to_string(), to_seconds(m->start_backoff_until - start));
  std::optional<Rung> cold_from;
  if (cold) cold_from = impl.current_rung(*m);

  Waiter w;
  w.tier = tier;
  m->waiters[index(tier)].push_back(&w);
  ++impl.waiting_total;
  impl.scale_up(*m);
  Nanos limit = start + cfg.queue_timeout;
  if (deadline && *deadline < limit) limit = *deadline;
  const auto real_deadline = std::chrono::steady_clock::now() + (limit - start);
  while (!w.granted && w.failed.is_ok()) {
    if (w.cv.wait_until(lock, real_deadline) == std::cv_status::timeout) break;
  }
  --impl.waiting_total;
  if (!w.granted && w.failed.is_ok()) {
    auto& queue = m->waiters[index(tier)];
    queue.erase(std::remove(queue.begin(), queue.end(), &w), queue.end());
    ++m->counters.timeouts;
    return make_error(Code::kDeadlineExceeded,
                      "no instance of '{}' had a free slot within {:.0f} ms ({} running, {} starting)", name,
                      to_ms(limit - start), m->live(false) + m->live(true), m->starting_shared + m->starting_reserved);
  }
  if (!w.granted) return w.failed;
  return make_lease(std::move(w.granted), cold_from);
}

void Manager::release(Lease& lease) {
  Impl& impl = *impl_;
  ModelState& m = *lease.model_;
  auto& inst = lease.instance_;
  std::unique_lock lock(m.mu);
  --inst->outstanding;
  --m.in_flight;
  inst->last_used = clock_.now();
  if (lease.failed_) {
    // The connection is suspect either way; the process may be gone.
    if (!inst->dead && !inst->process->alive()) {
      inst->dead = true;
      if (!inst->broken) ++m.counters.instance_deaths;
      spdlog::warn("model={} instance {} (pid {}) died under a request", m.config.name, inst->id,
                   inst->process->pid());
      std::erase(m.instances, inst);
      impl.scale_up(m);
    } else if (!inst->dead && !inst->draining) {
      // Still exiting (sockets close before the process is reapable) or broken while running:
      // no new request may pick it, so a retry lands elsewhere; tick() stops it once idle.
      inst->draining = true;
      inst->broken = true;
      ++m.counters.instance_deaths;
      spdlog::warn("model={} instance {} (pid {}) failed a request; draining it", m.config.name, inst->id,
                   inst->process->pid());
      impl.scale_up(m);
    }
    if (inst->process->forked() && (!m.zygote || (!m.zygote_starting && !m.zygote->alive()))) {
      // Its template is gone, so its siblings are stopping too: the retry must not pick one.
      m.drain_forked();
      impl.scale_up(m);
    }
  } else if (lease.client_ && inst->idle_clients.size() < static_cast<size_t>(m.config.concurrency)) {
    inst->idle_clients.push_back(std::move(lease.client_));
  }
  impl.dispatch(m);
  if (m.idle()) impl.went_idle(m, inst->last_used);
}

bool Manager::has_instance(const std::string& model, Tier tier) const {
  ModelState* m = impl_->find(model);
  if (m == nullptr) return false;
  std::lock_guard lock(m->mu);
  return m->live(false) + (tier == Tier::kPremium ? m->live(true) : 0) > 0;
}

void Manager::start_in_background(const std::string& model) {
  ModelState* m = impl_->find(model);
  if (m == nullptr || impl_->stopping) return;
  const Nanos now = clock_.now();
  {
    std::lock_guard lock(impl_->policy_mu);
    impl_->policy->on_invocation(m->app, now);
  }
  std::lock_guard lock(m->mu);
  m->last_request = now;
  m->holding = false;
  if (m->live(false) + m->starting_shared == 0 && now >= m->start_backoff_until)
    impl_->start_instance_async(*m, false);
}

// ---------------------------------------------------------------- admin and stats

bool Manager::has_model(const std::string& model) const { return impl_->find(model) != nullptr; }

std::vector<std::string> Manager::model_names() const {
  std::vector<std::string> names;
  for (const auto& m : impl_->models) names.push_back(m->config.name);
  return names;
}

const ModelConfig* Manager::model_config(const std::string& model) const {
  ModelState* m = impl_->find(model);
  return m ? &m->config : nullptr;
}

uint64_t Manager::memory_bytes() const { return impl_->memory_total; }

std::vector<ModelStats> Manager::stats() const {
  std::vector<ModelStats> out;
  for (const auto& m : impl_->models) {
    std::lock_guard lock(m->mu);
    ModelStats s = m->counters;
    s.instances = m->live(false);
    s.reserved = m->live(true);
    s.starting = m->starting_shared + m->starting_reserved;
    s.in_flight = m->in_flight;
    for (Tier t : kAllTiers) s.waiting[index(t)] = m->waiters[index(t)].size();
    s.zygote = m->zygote != nullptr;
    s.memory_bytes = m->zygote_pss;
    for (const auto& i : m->instances) s.memory_bytes += i->pss;
    s.rung = s.instances + s.reserved > 0 ? Rung::kWarm : (s.zygote ? Rung::kZygote : m->applied);
    out.push_back(std::move(s));
  }
  return out;
}

nlohmann::json Manager::describe() const {
  nlohmann::json models = nlohmann::json::array();
  const Nanos now = clock_.now();
  for (const auto& m : impl_->models) {
    std::lock_guard lock(m->mu);
    nlohmann::json instances = nlohmann::json::array();
    uint64_t memory = m->zygote_pss;
    for (const auto& i : m->instances) {
      memory += i->pss;
      instances.push_back({{"id", i->id},
                           {"pid", i->process->pid()},
                           {"endpoint", i->process->endpoint().to_string()},
                           {"pool", i->reserved ? "reserved" : "shared"},
                           {"forked", i->process->forked()},
                           {"outstanding", i->outstanding},
                           {"draining", i->draining},
                           {"pss_bytes", i->pss}});
    }
    nlohmann::json queue;
    for (Tier t : kAllTiers) queue[std::string(tier_name(t))] = m->waiters[index(t)].size();
    Rung rung = m->live(false) + m->live(true) > 0 ? Rung::kWarm : (m->zygote ? Rung::kZygote : m->applied);
    nlohmann::json cold;
    for (Rung r : policy::kAllRungs) cold[std::string(policy::rung_name(r))] = m->counters.cold_starts[index(r)];
    nlohmann::json plan = nullptr;
    if (m->idle()) {
      Nanos offset = now - m->idle_since;
      auto next = m->plan.next_change(offset);
      plan = {{"holding", m->holding},
              {"idle_seconds", to_seconds(offset)},
              {"rung_now", policy::rung_name(m->plan.rung_at(offset))},
              {"next_change_in_seconds", next ? nlohmann::json(to_seconds(*next - offset)) : nlohmann::json(nullptr)},
              {"next_rung", next ? nlohmann::json(policy::rung_name(m->plan.rung_at(*next))) : nlohmann::json(nullptr)}};
    }
    models.push_back({{"name", m->config.name},
                      {"bundle", m->config.bundle},
                      {"rung", policy::rung_name(rung)},
                      {"instances", instances},
                      {"starting", m->starting_shared + m->starting_reserved},
                      {"zygote", m->zygote ? nlohmann::json({{"pid", m->zygote->pid()}, {"pss_bytes", m->zygote_pss}})
                                           : nlohmann::json(nullptr)},
                      {"in_flight", m->in_flight},
                      {"queue", queue},
                      {"memory_bytes", memory},
                      {"min_instances", m->config.min_instances},
                      {"reserved_instances", m->config.reserved_instances},
                      {"max_instances", m->config.max_instances},
                      {"concurrency", m->config.concurrency},
                      {"cold_starts", cold},
                      {"start_failures", m->counters.start_failures},
                      {"instance_deaths", m->counters.instance_deaths},
                      {"idle_plan", plan},
                      {"last_error", m->last_error.is_ok() ? nlohmann::json(nullptr)
                                                           : nlohmann::json(m->last_error.to_string())}});
  }
  return {{"models", models},
          {"memory_bytes", impl_->memory_total.load()},
          {"memory_budget_bytes", options_.memory_budget_bytes},
          {"policy", impl_->policy->spec()}};
}

}  // namespace thaw::manager
