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
                                     std::function<void(Status)> done) {
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
  auto finish = [this, &m, state, bundle, version, source, from_version, from, launched, done] {
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
      } else {
        // The switch: one step under the lock. Older instances finish what they hold, take nothing new.
        for (auto& i : m.instances) i->draining = true;
        old_zygote = std::exchange(m.zygote, nullptr);
        m.config.bundle = bundle;
        m.config.version = version;
        m.config.source = source;
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
    if (result.is_ok()) {
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
  for (const auto& [id, spec] : specs) {
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

}  // namespace thaw::manager
