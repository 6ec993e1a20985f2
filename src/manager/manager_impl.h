// Manager::Impl, shared by the manager's source files (requests, ladder work, process starts).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "manager/manager.h"
#include "manager/model_state.h"

namespace thaw::manager {

struct Manager::Impl {
  Manager* self = nullptr;
  const ManagerOptions* options = nullptr;
  const Clock* clock = nullptr;
  std::vector<std::unique_ptr<ModelState>> models;
  std::map<std::string, ModelState*, std::less<>> by_name;

  std::mutex policy_mu;  // taken after a model's mutex, never before
  std::unique_ptr<policy::Policy> policy;

  std::atomic<bool> stopping{false};
  std::atomic<size_t> waiting_total{0};
  std::atomic<uint64_t> memory_total{0};

  // Background work (process starts, page-cache warming) runs on a few long-lived threads:
  // children die with the thread that forked them (PR_SET_PDEATHSIG), so no short-lived thread
  // may start one.
  static constexpr int kStarterThreads = 4;
  std::mutex tasks_mu;
  std::condition_variable tasks_cv;
  std::deque<std::function<void()>> tasks;
  bool tasks_closed = false;
  std::vector<std::thread> starters;

  std::mutex tick_mu;  // one tick at a time
  Nanos last_ping{0}, last_memory{0};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::thread ticker;

  ModelState* find(std::string_view name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  }
  Nanos now() const { return clock->now(); }

  // --- requests (manager.cpp), model mutex held ---
  std::shared_ptr<Instance> pick(ModelState& m, Tier tier) const;
  void claim(ModelState& m, Instance& inst);
  void dispatch(ModelState& m);
  void scale_up(ModelState& m);
  void fail_waiters(ModelState& m, const Status& why);
  policy::Rung current_rung(const ModelState& m) const;
  void went_idle(ModelState& m, Nanos now);

  // --- starts (manager_starts.cpp) ---
  // Model mutex held: counts the start, then runs it on a background task.
  void start_instance_async(ModelState& m, bool reserved);
  // No lock held; the start must have been counted (starting_*) by the caller.
  Status start_instance(ModelState& m, bool reserved);
  Status start_zygote(ModelState& m);  // no lock held; no-op when one is up or starting
  void start_starters();
  void run_task(std::function<void()> fn);
  Status run_task_and_wait(std::function<Status()> fn);
  void stop_starters();  // runs what is queued, then joins
  LaunchOptions launch_options(const ModelState& m) const;
  Status make_room(const ModelState& for_model, uint64_t bytes);  // memory budget, no lock held

  // --- ladder (manager_ladder.cpp) ---
  // Moves an idle model to `target`; `wait` runs starts and page-cache work in this thread.
  Status apply_rung(ModelState& m, policy::Rung target, bool wait);
  void measure_memory();
  void enforce_budget(uint64_t total, const ModelState* spare, uint64_t extra);
  void ping_floors();
};

}  // namespace thaw::manager
