#include "manager/manager.h"

#include <filesystem>
#include <future>

#include <spdlog/spdlog.h>

#include "manager/process_launcher.h"
#include "policy/policy_spec.h"

namespace thaw::manager {

using policy::Rung;

namespace {
ModelLoadInfo default_load_info(const ModelConfig& m) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(m.bundle, ec);
  return ModelLoadInfo{(ec ? 0 : size) + (32u << 20), true};
}
}  // namespace

Result<std::unique_ptr<Manager>> Manager::create(ManagerOptions options, std::vector<ModelConfig> models,
                                                 const Clock& clock, std::unique_ptr<Launcher> launcher,
                                                 std::unique_ptr<policy::Policy> given_policy) {
  if (models.empty()) return make_error(Code::kInvalidArgument, "no models to serve");
  if (!launcher) {
    std::error_code ec;
    if (!std::filesystem::is_directory(options.runtime_dir, ec))
      return make_error(Code::kInvalidArgument, "runtime directory '{}' does not exist", options.runtime_dir);
    launcher = std::make_unique<ProcessLauncher>(ProcessLauncherOptions{options.thaw_exe});
  }
  if (!given_policy) {
    auto made = policy::make_policy(options.policy, options.profile);
    if (!made.is_ok()) return made.status().with_context("policy");
    given_policy = std::move(made).value();
  }
  std::unique_ptr<Manager> m(new Manager(std::move(options), clock));
  m->policy_ = std::make_unique<PolicyGate>(std::move(given_policy));
  m->launcher_ = std::move(launcher);
  const auto load_info = m->options_.load_info ? m->options_.load_info : default_load_info;
  const Nanos now = clock.now();
  std::vector<ModelState*> states;
  for (auto& config : models) {
    auto state = std::make_unique<ModelState>();
    state->app = static_cast<policy::AppId>(m->models_.size());
    const ModelLoadInfo info = load_info(config);
    state->start_estimate = info.fresh_instance_bytes;
    state->zygote_safe = info.zygote_safe;
    // The policy weighs idle memory by what an instance is expected to hold, and a cold start by
    // where the model falls (the registry rung while its bundle has no local copy).
    state->fetch_estimate_ms = m->launcher_->fetch_cost_ms(config.bundle);
    policy::AppInfo app_info{static_cast<double>(info.fresh_instance_bytes) / (1 << 20)};
    app_info.floor = state->fetch_estimate_ms > 0.0 ? policy::Rung::kRegistry : policy::Rung::kDisk;
    m->policy_->add_app(state->app, app_info);
    state->config = std::move(config);
    state->idle_since = now;
    state->last_request = now;
    state->counters.name = state->config.name;
    m->by_name_[state->config.name] = state.get();
    states.push_back(state.get());
    m->models_.push_back(std::move(state));
  }
  const ManagerOptions& o = m->options_;
  m->pool_ = std::make_unique<InstancePool>(clock, PoolOptions{o.max_waiting, o.batch_shed_fraction});
  ControllerOptions co;
  co.runtime_dir = o.runtime_dir;
  co.memory_budget_bytes = o.memory_budget_bytes;
  co.ping_interval = o.ping_interval;
  co.profile = o.profile;
  co.replanned = o.replanned;
  Manager* raw = m.get();
  co.wake = [raw](Nanos at) { raw->wake(at); };
  co.demand = &m->demand_hub_;
  m->controller_ = std::make_unique<LadderController>(std::move(states), *m->pool_, *m->launcher_, *m->policy_, clock, co);
  m->pool_->set_events(*m->controller_);
  if (o.tick_interval.count() > 0) m->timer_ = std::thread([raw] { raw->timer_loop(); });
  return m;
}

Manager::~Manager() {
  shutdown();
  // Starts still finishing report to the controller: the launcher goes first.
  launcher_.reset();
}

void Manager::wake(Nanos at) {
  {
    std::lock_guard lock(timer_mu_);
    if (at >= wake_at_) return;
    wake_at_ = at;
  }
  timer_cv_.notify_one();
}

// Ticks every tick_interval, and sooner when a queue deadline falls between two ticks, so a
// request's timeout is kept to the millisecond without a timer per request.
void Manager::timer_loop() {
  std::unique_lock lock(timer_mu_);
  Nanos next_tick = clock_.now() + options_.tick_interval;
  while (!stopping_) {
    const Nanos target = std::min(next_tick, wake_at_);
    const Nanos now = clock_.now();
    if (now < target) {
      timer_cv_.wait_for(lock, target - now);
      continue;
    }
    wake_at_ = Nanos::max();
    if (now >= next_tick) next_tick = now + options_.tick_interval;
    lock.unlock();
    controller_->tick();
    lock.lock();
  }
}

void Manager::tick() { controller_->tick(); }

void Manager::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(timer_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  controller_->shutdown(grace);
}

ModelState* Manager::model_state(const std::string& model) const {
  auto it = by_name_.find(model);
  return it == by_name_.end() ? nullptr : it->second;
}

std::optional<Status> Manager::refusal(const std::string& model) const {
  for (const RefusedModel& r : options_.refused)
    if (r.name == model)
      return make_error(Code::kUnavailable, "model '{}' is not served: its bundle {} was refused: {}", model, r.bundle,
                        r.error);
  return std::nullopt;
}

WaitTicket Manager::acquire(const std::string& model, Tier tier, std::optional<Nanos> deadline, AcquireDone done) {
  ModelState* m = model_state(model);
  if (m == nullptr) {
    if (auto refused = refusal(model)) {
      done(*refused);
      return {};
    }
    done(make_error(Code::kNotFound, "unknown model '{}'; POST /v2/repository/index lists the models", model));
    return {};
  }
  return pool_->acquire(*m, tier, deadline, std::move(done));
}

Result<Lease> Manager::acquire_wait(const std::string& model, Tier tier, std::optional<Nanos> deadline) {
  auto promise = std::make_shared<std::promise<Result<Lease>>>();
  auto future = promise->get_future();
  acquire(model, tier, deadline, [promise](Result<Lease> r) { promise->set_value(std::move(r)); });
  return future.get();
}

bool Manager::has_instance(const std::string& model, Tier tier) const {
  ModelState* m = model_state(model);
  if (m == nullptr) return false;
  std::lock_guard lock(m->mu);
  return InstancePool::has_instance(*m, tier);
}

void Manager::start_in_background(const std::string& model) {
  if (ModelState* m = model_state(model)) controller_->start_in_background(*m);
}

void Manager::hold(const std::string& model, Rung rung, std::function<void(Status)> done) {
  ModelState* m = model_state(model);
  if (m == nullptr) {
    if (done) done(make_error(Code::kNotFound, "unknown model '{}'; GET /admin/models lists the models", model));
    return;
  }
  controller_->hold(*m, rung, std::move(done));
}

void Manager::publish_version(const std::string& model, const std::string& source, const std::string& sha256,
                              std::function<void(Status)> done, int canary_percent) {
  ModelState* m = model_state(model);
  if (m == nullptr) {
    done(make_error(Code::kNotFound, "unknown model '{}'; GET /admin/models lists the models", model));
    return;
  }
  if (!options_.register_source) {
    done(make_error(Code::kInvalidArgument, "this server has no model store: give some model a `source:` in thaw.yaml"));
    return;
  }
  auto v = options_.register_source(model, source, sha256);
  if (!v.is_ok()) {
    done(v.status());
    return;
  }
  // The canary's or the served version's source: no fetch, no start.
  bool handled = false, promote = false, cancel = false;
  {
    std::lock_guard lock(m->mu);
    if (m->canary.percent > 0 && m->canary.bundle == v->bundle) {
      handled = true;
      if (canary_percent > 0 && canary_percent < 100) m->canary.percent = canary_percent;  // a new share
      else promote = true;
    } else if (m->config.bundle == v->bundle) {
      handled = true;
      cancel = m->canary.percent > 0;  // back to the served version alone
    }
  }
  if (handled) {
    if (promote) controller_->promote_canary(*m);
    if (cancel) controller_->cancel_canary(*m);
    done(Status::ok());
    return;
  }
  {
    std::lock_guard lock(m->mu);
    if (m->switching) {
      done(make_error(Code::kUnavailable, "a version switch of model '{}' is under way; publish again once it answers",
                      model));
      return;
    }
    m->switching = true;
  }
  done = [m, done = std::move(done)](Status s) {
    {
      std::lock_guard lock(m->mu);
      m->switching = false;
    }
    done(std::move(s));
  };
  // Fetch (the launcher's threads) and warm, then start beside the serving version and switch.
  launcher_->warm_page_cache(v->bundle, [this, m, v = *v, source, done, canary_percent](Status s) {
    if (!s.is_ok()) {
      done(s.with_context(fmt::format("version {} was not fetched; the serving version keeps serving", v.version)));
      return;
    }
    controller_->switch_bundle(*m, v.bundle, v.version, source, done, canary_percent);
  });
}

std::string Manager::model_version(const std::string& model) const {
  const ModelState* m = model_state(model);
  if (m == nullptr) return "";
  std::lock_guard lock(m->mu);
  return m->config.version;
}

Status Manager::hold_wait(const std::string& model, Rung rung) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  hold(model, rung, [promise](Status s) { promise->set_value(std::move(s)); });
  return future.get();
}

void Manager::unload(const std::string& model, std::function<void(Status)> done) {
  if (ModelState* m = model_state(model)) {
    std::lock_guard lock(m->mu);
    m->unloaded = true;
  }
  hold(model, Rung::kDisk, std::move(done));
}

void Manager::load(const std::string& model, std::function<void(Status)> done) {
  if (ModelState* m = model_state(model)) {
    std::lock_guard lock(m->mu);
    m->unloaded = false;
  }
  hold(model, Rung::kWarm, std::move(done));
}

bool Manager::unloaded(const std::string& model) const {
  ModelState* m = model_state(model);
  if (m == nullptr) return false;
  std::lock_guard lock(m->mu);
  return m->unloaded;
}

bool Manager::has_model(const std::string& model) const { return model_state(model) != nullptr; }

std::vector<std::string> Manager::model_names() const {
  std::vector<std::string> names;
  for (const auto& m : models_) names.push_back(m->config.name);
  return names;
}

const ModelConfig* Manager::model_config(const std::string& model) const {
  ModelState* m = model_state(model);
  return m ? &m->config : nullptr;
}

uint64_t Manager::memory_bytes() const { return controller_->memory_bytes(); }

Result<ModelDemand> Manager::demand(const std::string& model) const {
  const ModelState* m = model_state(model);
  if (m == nullptr) return make_error(Code::kNotFound, "unknown model '{}'", model);
  std::lock_guard lock(m->mu);
  ModelDemand d;
  d.waiting = m->waiting;
  d.in_flight = static_cast<uint64_t>(m->in_flight);
  d.instances = m->live();
  d.starting = m->starting();
  d.concurrency = m->config.concurrency;
  return d;
}

}  // namespace thaw::manager
