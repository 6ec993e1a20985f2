// Starting instances (forked from the zygote when one is up, else `thaw run`) and zygotes.
#include <filesystem>
#include <future>

#include <spdlog/spdlog.h>

#include "loader/page_cache.h"
#include "manager/manager_impl.h"

namespace thaw::manager {

using policy::Rung;

void Manager::Impl::start_starters() {
  for (int i = 0; i < kStarterThreads; ++i) {
    starters.emplace_back([this] {
      for (;;) {
        std::function<void()> fn;
        {
          std::unique_lock lock(tasks_mu);
          tasks_cv.wait(lock, [&] { return tasks_closed || !tasks.empty(); });
          if (tasks.empty()) return;
          fn = std::move(tasks.front());
          tasks.pop_front();
        }
        fn();
      }
    });
  }
}

void Manager::Impl::run_task(std::function<void()> fn) {
  {
    std::lock_guard lock(tasks_mu);
    tasks.push_back(std::move(fn));
  }
  tasks_cv.notify_one();
}

Status Manager::Impl::run_task_and_wait(std::function<Status()> fn) {
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  {
    std::lock_guard lock(tasks_mu);
    if (tasks_closed) return make_error(Code::kUnavailable, "the server is shutting down");
    tasks.push_back([fn = std::move(fn), done] { done->set_value(fn()); });
  }
  tasks_cv.notify_one();
  return result.get();
}

void Manager::Impl::stop_starters() {
  {
    std::lock_guard lock(tasks_mu);
    tasks_closed = true;
  }
  tasks_cv.notify_all();
  for (auto& t : starters)
    if (t.joinable()) t.join();
  starters.clear();
}

LaunchOptions Manager::Impl::launch_options(const ModelState& m) const {
  LaunchOptions o;
  o.thaw_exe = options->thaw_exe;
  o.bundle = m.config.bundle;
  o.args = {"--model-name", m.config.name};
  o.args.insert(o.args.end(), m.config.worker_args.begin(), m.config.worker_args.end());
  o.log_path = (std::filesystem::path(options->runtime_dir) / (m.config.name + ".log")).string();
  o.ready_timeout = m.config.start_timeout;
  return o;
}

void Manager::Impl::start_instance_async(ModelState& m, bool reserved) {
  (reserved ? m.starting_reserved : m.starting_shared)++;
  run_task([this, &m, reserved] { (void)start_instance(m, reserved); });
}

Status Manager::Impl::start_instance(ModelState& m, bool reserved) {
  std::shared_ptr<ZygoteProcess> zygote;
  uint64_t id = 0;
  uint64_t estimate = 0;
  {
    std::lock_guard lock(m.mu);
    zygote = m.zygote_starting ? nullptr : m.zygote;
    id = m.next_instance++;
    for (const auto& i : m.instances) estimate = std::max(estimate, i->pss);
  }
  if (zygote && !zygote->alive()) zygote.reset();
  Rung from = Rung::kZygote;
  if (!zygote) {
    auto r = loader::residency(m.config.bundle);
    from = r.is_ok() && r->fraction() >= 0.5 ? Rung::kPageCache : Rung::kDisk;
  }
  // A forked instance shares the template's pages; a fresh one faults in what start_estimate says.
  if (estimate == 0 && !zygote) estimate = m.start_estimate;
  Status room = make_room(m, zygote ? (8u << 20) : estimate);
  const auto endpoint =
      http::Endpoint::unix_socket((std::filesystem::path(options->runtime_dir) /
                                   fmt::format("{}-{}.sock", m.config.name, id)).string());
  const Nanos t0 = now();
  Result<std::unique_ptr<InstanceProcess>> process = room;
  if (room.is_ok() && zygote) {
    process = zygote->fork_instance(endpoint, std::chrono::seconds(10));
    if (!process.is_ok()) {
      spdlog::warn("model={} zygote fork failed ({}); starting a worker instead", m.config.name,
                   process.status().to_string());
      from = Rung::kPageCache;
    }
  }
  if (room.is_ok() && !process.is_ok()) process = InstanceProcess::spawn(launch_options(m), endpoint);
  const Nanos took = now() - t0;

  std::unique_lock lock(m.mu);
  (reserved ? m.starting_reserved : m.starting_shared)--;
  if (!process.is_ok()) {
    ++m.counters.start_failures;
    m.last_error = process.status();
    m.start_backoff_until = now() + std::chrono::seconds(2);
    spdlog::error("model={} instance {} failed to start: {}", m.config.name, id, process.status().to_string());
    if (m.live(false) + m.live(true) == 0 && m.starting_shared + m.starting_reserved == 0)
      fail_waiters(m, make_error(Code::kUnavailable, "model '{}' failed to start: {}", m.config.name,
                                 process.status().to_string()));
    return process.status();
  }
  auto inst = std::make_shared<Instance>();
  inst->id = id;
  inst->process = std::move(process).value();
  inst->reserved = reserved;
  inst->last_used = now();
  if (stopping) {
    lock.unlock();
    inst->process->stop(std::chrono::seconds(1));
    return make_error(Code::kUnavailable, "the server is shutting down");
  }
  ++m.counters.cold_starts[index(from)];
  m.counters.cold_start_seconds[index(from)] += to_seconds(took);
  m.applied = Rung::kWarm;
  m.last_error = Status::ok();
  spdlog::info("model={} instance {} (pid {}{}) ready from rung {} in {:.1f} ms", m.config.name, id,
               inst->process->pid(), reserved ? ", reserved" : "", policy::rung_name(from), to_ms(took));
  m.instances.push_back(std::move(inst));
  dispatch(m);
  if (m.idle()) went_idle(m, now());
  return Status::ok();
}

Status Manager::Impl::start_zygote(ModelState& m) {
  {
    std::lock_guard lock(m.mu);
    if ((m.zygote && m.zygote->alive()) || m.zygote_starting) return Status::ok();
    m.zygote_starting = true;
  }
  Status room = make_room(m, m.start_estimate);
  const Nanos t0 = now();
  Result<std::unique_ptr<ZygoteProcess>> z = room;
  if (room.is_ok()) {
    z = ZygoteProcess::spawn(launch_options(m),
                             (std::filesystem::path(options->runtime_dir) / (m.config.name + ".zygote.sock")).string());
  }
  std::lock_guard lock(m.mu);
  m.zygote_starting = false;
  if (!z.is_ok()) {
    m.last_error = z.status();
    spdlog::error("model={} zygote failed to start: {}", m.config.name, z.status().to_string());
    return z.status();
  }
  m.zygote = std::shared_ptr<ZygoteProcess>(std::move(z).value());
  if (stopping) {
    auto zygote = std::move(m.zygote);
    zygote->stop(std::chrono::seconds(1));
    return make_error(Code::kUnavailable, "the server is shutting down");
  }
  spdlog::info("model={} zygote (pid {}) ready in {:.1f} ms", m.config.name, m.zygote->pid(), to_ms(now() - t0));
  return Status::ok();
}

}  // namespace thaw::manager
