// The ladder controller's version switch: a new bundle's instances start beside the serving ones,
// then take the traffic in one step under the model's lock.
#include <spdlog/spdlog.h>

#include "manager/ladder_controller.h"

namespace thaw::manager {

using policy::Rung;

namespace {

// The instances started for one switch, until all have answered.
struct SwitchState {
  std::mutex mu;
  size_t pending = 0;
  std::vector<std::shared_ptr<Instance>> ready;
  Status failed;
};

}  // namespace

void LadderController::switch_bundle(ModelState& m, std::string bundle, std::string version, std::string source,
                                     std::function<void(Status)> done, int canary_percent) {
  const bool canary = canary_percent > 0 && canary_percent < 100;
  std::vector<std::pair<uint64_t, StartSpec>> specs;
  std::string from_version;
  {
    std::lock_guard lock(m.mu);
    from_version = m.config.version;
    // As many as serve now, so the new version takes the same load without a queue.
    const int n = std::max(1, m.live(false));
    for (int i = 0; i < n; ++i) {
      const uint64_t id = m.next_instance++;
      specs.emplace_back(id, spec_for(m, id, bundle));
    }
  }
  spdlog::info("model={} version {} -> {}: starting {} instance(s) of {} while version {} serves", m.config.name,
               from_version, version, specs.size(), bundle, from_version);
  auto state = std::make_shared<SwitchState>();
  state->pending = specs.size();
  const Rung from = launcher_.storage_rung(bundle);
  const Nanos launched = clock_.now();
  auto finish = [this, &m, state, bundle, version, source, from_version, from, launched, done, canary,
                 canary_percent] {
    std::vector<std::shared_ptr<Instance>> stop_now;
    std::shared_ptr<ZygoteHandle> old_zygote;
    Status result = state->failed;
    {
      Deferred later;
      std::lock_guard lock(m.mu);
      if (result.is_ok() && stopping_) result = make_error(Code::kUnavailable, "the server is shutting down");
      if (!result.is_ok()) {
        stop_now = std::move(state->ready);
        m.last_error = result;
      } else if (canary) {
        // Beside the serving version, on a share of the requests; an earlier canary drains.
        for (auto& i : m.instances)
          if (i->canary) i->draining = true;
        const Nanos now = clock_.now();
        for (auto& inst : state->ready) {
          inst->last_used = now;
          inst->canary = true;
          m.instances.push_back(inst);
        }
        m.canary.percent = canary_percent;
        m.canary.bundle = bundle;
        m.canary.version = version;
        m.canary.source = source;
        m.canary.seen = 0;
        pool_.dispatch(m, later);
      } else {
        // The switch: one step under the lock. Older instances finish what they hold, take nothing new.
        for (auto& i : m.instances) i->draining = true;
        old_zygote = std::exchange(m.zygote, nullptr);
        m.config.bundle = bundle;
        m.config.version = version;
        m.config.source = source;
        m.canary.percent = 0;
        const Nanos now = clock_.now();
        for (auto& inst : state->ready) {
          inst->last_used = now;
          ++m.counters.cold_starts[policy::index(from)];
          m.counters.cold_start_seconds[policy::index(from)] += to_seconds(now - launched);
          m.instances.push_back(inst);
        }
        m.applied = Rung::kWarm;
        m.last_error = Status::ok();
        pool_.dispatch(m, later);
      }
    }
    for (auto& i : stop_now) launcher_.stop(i->worker, std::chrono::seconds(1), nullptr);
    if (old_zygote) launcher_.stop_zygote(old_zygote, options_.stop_grace, nullptr);
    if (result.is_ok() && canary) {
      spdlog::info("model={} version {} takes {} % of requests as a canary beside version {}", m.config.name, version,
                   canary_percent, from_version);
      if (done) done(Status::ok());
    } else if (result.is_ok()) {
      spdlog::info("model={} now serves version {} ({}); version {} drains", m.config.name, version, bundle,
                   from_version);
      if (done) done(Status::ok());
    } else {
      spdlog::error("model={} version {} did not start ({}); version {} keeps serving", m.config.name, version,
                    result.to_string(), from_version);
      if (done)
        done(result.with_context(fmt::format("version {} did not start; version {} keeps serving", version,
                                             from_version)));
    }
  };
  for (const auto& [spec_id, spec] : specs) {
    const auto id = spec_id;  // clang 14 cannot capture a structured binding
    launcher_.start_instance(spec, nullptr, [state, finish, id](Result<std::shared_ptr<WorkerHandle>> r) {
      bool last = false;
      {
        std::lock_guard lock(state->mu);
        if (r.is_ok()) {
          auto inst = std::make_shared<Instance>();
          inst->id = id;
          inst->worker = std::move(r).value();
          state->ready.push_back(std::move(inst));
        } else if (state->failed.is_ok()) {
          state->failed = r.status();
        }
        last = --state->pending == 0;
      }
      if (last) finish();
    });
  }
}

void LadderController::promote_canary(ModelState& m) {
  std::shared_ptr<ZygoteHandle> old_zygote;
  {
    Deferred later;
    std::lock_guard lock(m.mu);
    if (m.canary.percent == 0) return;
    for (auto& i : m.instances) {
      if (i->canary) i->canary = false;
      else i->draining = true;
    }
    old_zygote = std::exchange(m.zygote, nullptr);
    m.config.bundle = m.canary.bundle;
    m.config.version = m.canary.version;
    m.config.source = m.canary.source;
    m.canary.percent = 0;
    spdlog::info("model={} canary version {} promoted: it takes every request", m.config.name, m.config.version);
    pool_.dispatch(m, later);
  }
  if (old_zygote) launcher_.stop_zygote(old_zygote, options_.stop_grace, nullptr);
}

void LadderController::cancel_canary(ModelState& m) {
  Deferred later;
  std::lock_guard lock(m.mu);
  if (m.canary.percent == 0) return;
  for (auto& i : m.instances)
    if (i->canary) i->draining = true;
  spdlog::info("model={} canary version {} cancelled: version {} takes every request", m.config.name,
               m.canary.version, m.config.version);
  m.canary.percent = 0;
  pool_.dispatch(m, later);
}

}  // namespace thaw::manager
