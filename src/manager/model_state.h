// Internal state of the manager: one ModelState per model, guarded by its own mutex. Not part of
// the public interface; shared by manager.cpp (requests), manager_ladder.cpp (timed work) and
// manager_starts.cpp (starting processes).
#pragma once

#include <array>
#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "manager/manager.h"
#include "manager/process.h"
#include "policy/idle_plan.h"

namespace thaw::manager {

struct Instance {
  uint64_t id = 0;
  std::unique_ptr<InstanceProcess> process;
  bool reserved = false;     // premium-only pool
  bool draining = false;     // takes no new requests; stopped once idle
  bool dead = false;
  bool broken = false;       // failed a request: draining, already counted in instance_deaths
  int outstanding = 0;
  Nanos last_used{0};
  uint64_t pss = 0;
  std::vector<std::unique_ptr<http::Client>> idle_clients;  // keep-alive connections, reused

  // A kept-alive connection if one is idle, else a new client (connects on first use).
  // Call with the model's mutex held.
  std::unique_ptr<http::Client> take_client(std::chrono::milliseconds timeout) {
    if (!idle_clients.empty()) {
      auto c = std::move(idle_clients.back());
      idle_clients.pop_back();
      return c;
    }
    return std::make_unique<http::Client>(http::ClientOptions{process->endpoint(), timeout, uint64_t{4} << 30, "thaw"});
  }
};

// A request waiting for a slot; granted by dispatch() under the model's mutex.
struct Waiter {
  Tier tier = Tier::kStandard;
  std::condition_variable cv;
  std::shared_ptr<Instance> granted;
  Status failed;  // set when the model cannot start
};

struct ModelState {
  ModelConfig config;
  policy::AppId app = 0;
  mutable std::mutex mu;
  std::vector<std::shared_ptr<Instance>> instances;
  int starting_shared = 0, starting_reserved = 0;
  std::array<std::deque<Waiter*>, kTierCount> waiters;
  std::shared_ptr<ZygoteProcess> zygote;
  bool zygote_starting = false;
  uint64_t zygote_pss = 0;
  int in_flight = 0;
  // Idle bookkeeping: the plan in force since idle_since (a policy's, or an admin hold).
  Nanos idle_since{0};
  policy::IdlePlan plan{policy::Rung::kDisk};
  bool holding = false;
  policy::Rung applied = policy::Rung::kDisk;  // the lowest rung the last action reached
  Nanos last_request{0};
  Nanos start_backoff_until{0};
  Status last_error;
  uint64_t next_instance = 0;
  // From ManagerOptions::load_info: memory a fresh (not forked) instance is expected to add before
  // one has been measured, and whether the zygote rung is allowed.
  uint64_t start_estimate = 0;
  bool zygote_safe = true;
  ModelStats counters;  // totals only; the live fields are filled by stats()

  size_t waiting() const {
    size_t n = 0;
    for (const auto& q : waiters) n += q.size();
    return n;
  }
  int live(bool reserved) const {
    int n = 0;
    for (const auto& i : instances)
      if (i->reserved == reserved && !i->dead && !i->draining) ++n;
    return n;
  }
  bool idle() const { return in_flight == 0 && waiting() == 0; }
  // A zygote's children get SIGTERM when it dies: none of them may take another request.
  void drain_forked() {
    for (auto& i : instances)
      if (i->process->forked()) i->draining = true;
  }
};

}  // namespace thaw::manager
