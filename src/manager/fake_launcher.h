// A launcher on simulated time, for the manager's unit tests and for `thaw sim`: nothing is
// started, every start takes the rung's latency on the clock, and the work asked for happens when
// its owner calls run_due(). Workers and zygotes are plain objects a test can kill; bundle
// residency (page cache or disk) is tracked as a real one would be: a fresh start reads the bundle
// in, eviction drops it. With a store budget, bundles that start at the registry rung are fetched
// into a local store that keeps them under the budget as `thaw serve`'s model store does (least
// recently used first, copies in use kept: cache::VersionIndex); an evicted copy is at kRegistry again.
//
// Thread-safety: any member from any thread; callbacks run inside run_due(), on its caller.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "cache/version_index.h"
#include "common/clock.h"
#include "manager/launcher.h"

namespace thaw::manager {

struct FakeCosts {
  // How long a start takes, by the rung it starts from (kZygote: a fork).
  std::array<Nanos, policy::kRungCount> start{Nanos{0}, std::chrono::milliseconds(3), std::chrono::milliseconds(40),
                                              std::chrono::milliseconds(400), std::chrono::milliseconds(1450)};
  Nanos zygote_start = std::chrono::milliseconds(40);  // a template from the page cache
  Nanos warm_page_cache = Nanos{0};
  uint64_t instance_bytes = 64 << 20;  // PSS of a fresh instance
  uint64_t forked_bytes = 4 << 20;     // PSS of a forked one
  uint64_t zygote_bytes = 48 << 20;
  uint64_t bundle_bytes = 64 << 20;    // the bundle's file (what a store budget counts)
};

class FakeWorker final : public WorkerHandle {
 public:
  FakeWorker(pid_t pid, http::Endpoint endpoint, bool forked, uint64_t bytes, std::string model)
      : pid_(pid), endpoint_(std::move(endpoint)), forked_(forked), bytes_(bytes), model_(std::move(model)) {}
  pid_t pid() const override { return pid_; }
  const http::Endpoint& endpoint() const override { return endpoint_; }
  bool forked() const override { return forked_; }
  bool alive() override { return alive_; }
  uint64_t memory_bytes() override { return alive_ ? bytes_ : 0; }
  void die() { alive_ = false; }
  // Keep-warm pings fail while hung.
  void set_hung(bool hung) { hung_ = hung; }
  bool hung() const { return hung_; }
  const std::string& model() const { return model_; }

 private:
  pid_t pid_;
  http::Endpoint endpoint_;
  bool forked_;
  uint64_t bytes_;
  std::string model_;
  std::atomic<bool> alive_{true};
  std::atomic<bool> hung_{false};
};

class FakeZygote final : public ZygoteHandle {
 public:
  FakeZygote(pid_t pid, uint64_t bytes, std::string model) : pid_(pid), bytes_(bytes), model_(std::move(model)) {}
  const std::string& model() const { return model_; }
  pid_t pid() const override { return pid_; }
  bool alive() override { return alive_; }
  uint64_t memory_bytes() override { return alive_ ? bytes_ : 0; }
  void die() { alive_ = false; }

 private:
  pid_t pid_;
  uint64_t bytes_;
  std::string model_;
  std::atomic<bool> alive_{true};
};

class FakeLauncher final : public Launcher {
 public:
  FakeLauncher(const Clock& clock, FakeCosts costs = {}) : clock_(clock), costs_(costs) {}

  // Runs the work due by `now` (starts, stops, page-cache moves, pings), in order of due time.
  void run_due(Nanos now);
  // Called with the model (for page-cache work: the bundle) of each piece of work before it runs.
  void on_work(std::function<void(const std::string&)> fn) { on_work_ = std::move(fn); }
  // Keep only live workers in workers() (a long simulation starts millions).
  void forget_dead_workers(bool forget) { forget_dead_ = forget; }
  // When the next piece of work falls due; nullopt when none is queued.
  std::optional<Nanos> next_due() const;

  // Test controls.
  void fail_next_starts(int n, Status why);  // the next n instance starts fail with `why`
  void set_costs(const std::string& bundle, FakeCosts costs);
  std::vector<std::shared_ptr<FakeWorker>> workers() const;  // every worker started, alive or not
  std::vector<std::shared_ptr<FakeZygote>> zygotes() const;
  int instance_starts() const { return instance_starts_; }
  // The spec of the last instance start asked for.
  StartSpec last_instance_spec() const {
    std::lock_guard lock(mu_);
    return last_instance_spec_;
  }
  int zygote_starts() const { return zygote_starts_; }
  int stops() const { return stops_; }
  void set_storage(const std::string& bundle, policy::Rung rung);
  // Local copies of fetched bundles are kept within `bytes` (0: no budget, as before).
  void set_store_budget(uint64_t bytes);
  uint64_t store_evictions() const;

  void start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) override;
  void start_zygote(const StartSpec& spec, ZygoteDone done) override;
  void stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds grace, Done done) override;
  void kill(std::shared_ptr<WorkerHandle> worker) override;
  void stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds grace, Done done) override;
  void ping(std::shared_ptr<WorkerHandle> worker, Done done) override;
  policy::Rung storage_rung(const std::string& bundle) override;
  // The registry start's cost over the disk start's while the bundle is at kRegistry, else 0.
  double fetch_cost_ms(const std::string& bundle) override;
  void warm_page_cache(const std::string& bundle, Done done) override;
  void evict(const std::string& bundle, Done done) override;
  void drain(std::chrono::milliseconds limit) override;

 private:
  struct Task {
    Nanos due;
    uint64_t seq;
    std::function<void()> fn;
    std::string model;
    bool operator>(const Task& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };
  void schedule(Nanos after, std::string model, std::function<void()> fn);
  const FakeCosts& costs_for(const std::string& bundle) const;
  // With mu_ held, after `bundle` was read: its copy is used now (fetched if it was at kRegistry);
  // returns the bundles the store budget evicted.
  std::vector<std::string> store_used_locked(const std::string& bundle, bool fetched);
  // A start or a page-cache warm read `bundle` in (fetching it first if it was at kRegistry).
  void read_in(const std::string& bundle);

  const Clock& clock_;
  FakeCosts costs_;
  mutable std::mutex mu_;
  std::priority_queue<Task, std::vector<Task>, std::greater<>> tasks_;
  uint64_t seq_ = 0;
  std::map<std::string, FakeCosts> bundle_costs_;
  std::map<std::string, policy::Rung> storage_;
  std::vector<std::shared_ptr<FakeWorker>> workers_;
  std::vector<std::shared_ptr<FakeZygote>> zygotes_;
  int fail_starts_ = 0;
  Status fail_why_;
  int instance_starts_ = 0, zygote_starts_ = 0, stops_ = 0;
  StartSpec last_instance_spec_;
  pid_t next_pid_ = 1000;
  std::function<void(const std::string&)> on_work_;
  bool forget_dead_ = false;
  std::map<std::string, std::string> bundle_of_;  // model -> bundle, for the store's leases
  std::unique_ptr<cache::VersionIndex> store_;
  uint64_t store_evictions_ = 0;
};

}  // namespace thaw::manager
