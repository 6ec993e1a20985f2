#include "sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <queue>
#include <string>

#include <spdlog/spdlog.h>

#include "manager/fake_launcher.h"
#include "manager/manager.h"

namespace thaw::sim {

using manager::Lease;
using manager::ModelState;
using policy::Rung;

namespace {

Nanos from_ms(double ms) { return Nanos(static_cast<int64_t>(ms * 1e6)); }
Nanos from_us(int64_t us) { return std::chrono::microseconds(us); }

// What one app holds between two events, for the memory and time accounts.
struct Account {
  Nanos since{0};
  bool seen = false;  // its first request has arrived
  bool idle = true;
  Rung rung = Rung::kDisk;
  double gb = 0.0;    // memory held now
  Nanos end{0};       // when its last request finished
};

struct Release {
  Nanos at;
  uint32_t slot;
  uint32_t app;
  bool operator>(const Release& o) const { return at > o.at; }
};
struct Wake {
  Nanos at;
  uint32_t app;
  uint64_t version;
  bool operator>(const Wake& o) const { return at > o.at; }
};
struct Arrival {
  int64_t us;
  uint32_t app;
  bool operator>(const Arrival& o) const { return us != o.us ? us > o.us : app > o.app; }
};
template <class T>
using MinHeap = std::priority_queue<T, std::vector<T>, std::greater<>>;

class Replay {
 public:
  Replay(const Trace& trace, const SimOptions& opts, SimResult& r) : trace_(trace), opts_(opts), r_(r) {}

  Status run(std::unique_ptr<policy::Policy> pol) {
    THAW_TRY(build(std::move(pol)));
    loop();
    finish();
    return Status::ok();
  }

 private:
  Status build(std::unique_ptr<policy::Policy> pol) {
    const auto& p = opts_.profile;
    manager::FakeCosts costs;
    for (Rung rung : policy::kAllRungs) costs.start[policy::index(rung)] = from_ms(p.latency_ms[policy::index(rung)]);
    costs.zygote_start = from_ms(p.latency_ms[policy::index(Rung::kPageCache)]);
    auto launcher = std::make_unique<manager::FakeLauncher>(clock_, costs);
    fake_ = launcher.get();
    if (opts_.from_registry) fake_->set_store_budget(opts_.store_budget_bytes);
    fake_->forget_dead_workers(true);
    const size_t n = trace_.apps.size();
    std::vector<manager::ModelConfig> models;
    for (size_t i = 0; i < n; ++i) {
      manager::ModelConfig m;
      m.name = std::to_string(i);
      m.bundle = m.name;  // the fake launcher's key for the app's bundle
      m.concurrency = opts_.concurrency;
      m.max_instances = opts_.max_instances;
      m.min_instances = opts_.min_instances;
      m.queue_limit = size_t{1} << 40;
      m.queue_timeout = std::chrono::hours(24 * 365);
      m.start_timeout = std::chrono::hours(24);
      // The fake processes hold what the profile says, so the memory the manager measures (the
      // budget, the costs it gives the policy) is the profile's again.
      const double mb = trace_.apps[i].memory_mb;
      manager::FakeCosts c = costs;
      c.instance_bytes = static_cast<uint64_t>(p.memory_fraction[policy::index(Rung::kWarm)] * mb * (1 << 20));
      c.forked_bytes = c.instance_bytes / 16;
      c.zygote_bytes = static_cast<uint64_t>(p.memory_fraction[policy::index(Rung::kZygote)] * mb * (1 << 20));
      c.bundle_bytes = static_cast<uint64_t>(mb * (1 << 20));
      fake_->set_costs(m.bundle, c);
      if (opts_.from_registry) fake_->set_storage(m.bundle, Rung::kRegistry);
      models.push_back(std::move(m));
    }
    manager::ManagerOptions mo;
    mo.tick_interval = std::chrono::milliseconds(0);
    mo.ping_interval = std::chrono::milliseconds(0);
    mo.max_waiting = size_t{1} << 40;
    mo.memory_budget_bytes = opts_.memory_budget_bytes;
    mo.profile = p;
    // A policy that revises an idle app's plan (an eviction) has it acted on now.
    mo.replanned = [this](ModelState& m) { touch(m.app); };
    mo.load_info = [this](const manager::ModelConfig& c) {
      const double mb = trace_.apps[std::stoul(c.name)].memory_mb;
      return manager::ModelLoadInfo{static_cast<uint64_t>(mb * (1 << 20)), true};
    };
    auto m = manager::Manager::create(mo, std::move(models), clock_, std::move(launcher), std::move(pol));
    if (!m.is_ok()) return m.status();
    manager_ = std::move(m).value();
    states_.resize(n);
    for (size_t i = 0; i < n; ++i) states_[i] = manager_->model_state(std::to_string(i));
    accounts_.resize(n);
    app_cold_.assign(n, 0);
    app_expensive_.assign(n, 0);
    next_.assign(n, 0);
    version_.assign(n, 0);
    dirty_flag_.assign(n, 0);
    fake_->on_work([this](const std::string& model) { touch(static_cast<uint32_t>(std::stoul(model))); });
    for (uint32_t i = 0; i < n; ++i)
      if (!trace_.apps[i].arrival_us.empty()) arrivals_.push({trace_.apps[i].arrival_us[0], i});
    return Status::ok();
  }

  // Books the time since the app's last event at what it held, before its state changes.
  void account(uint32_t i, Nanos now) {
    Account& a = accounts_[i];
    // An app's account ends with the trace, or with its last request if that ends later.
    if (a.idle) now = std::min(now, std::max(trace_.horizon, a.end));
    if (now <= a.since) return;
    const double dt = to_seconds(now - a.since);
    if (!a.seen) {
      r_.before_first_seconds += dt;
    } else if (a.idle) {
      r_.idle_seconds[policy::index(a.rung)] += dt;
      r_.idle_gb_s_by_rung[policy::index(a.rung)] += dt * a.gb;
    } else {
      r_.busy_seconds += dt;
      r_.busy_gb_s += dt * trace_.apps[i].memory_mb / 1024.0;
    }
    a.since = now;
  }

  void touch(uint32_t i) {
    account(i, clock_.now());
    if (!dirty_flag_[i]) {
      dirty_flag_[i] = 1;
      dirty_.push_back(i);
    }
  }

  // Reads back what the app holds now, and when the controller next wants to act on it.
  void refresh(uint32_t i) {
    Account& a = accounts_[i];
    ModelState& m = *states_[i];
    int instances = 0;
    bool zygote = false;
    {
      std::lock_guard lock(m.mu);
      instances = m.live();
      zygote = m.zygote != nullptr;
      a.idle = m.idle();
    }
    const double mb = trace_.apps[i].memory_mb;
    a.rung = instances > 0 ? Rung::kWarm : zygote ? Rung::kZygote : fake_->storage_rung(m.config.bundle);
    a.gb = opts_.profile.memory_gb(a.rung, mb) * (instances > 1 ? instances : 1);
    if (auto at = manager_->controller().next_wakeup(m, clock_.now())) wakes_.push({*at, i, ++version_[i]});
  }

  void refresh_dirty() {
    for (uint32_t i : dirty_) {
      dirty_flag_[i] = 0;
      refresh(i);
    }
    dirty_.clear();
  }

  void arrive(uint32_t i) {
    const TraceApp& app = trace_.apps[i];
    const size_t k = next_[i]++;
    if (next_[i] < app.arrival_us.size()) arrivals_.push({app.arrival_us[next_[i]], i});
    touch(i);
    Account& a = accounts_[i];
    if (!a.seen) a.seen = true;
    bool busy;
    {
      std::lock_guard lock(states_[i]->mu);
      busy = !states_[i]->idle();
    }
    if (busy) ++r_.concurrent;
    ++done_;
    // A request that finds its app busy is served warm, waiting at most for a start in progress;
    // else the rung it found decides (a start the ladder began early does not make it cold).
    manager_->pool().acquire(*states_[i], manager::Tier::kStandard, std::nullopt,
                             [this, i, k = static_cast<uint32_t>(k), busy](Result<Lease> lease) {
                               granted(i, k, busy, std::move(lease));
                             });
  }

  void granted(uint32_t i, uint32_t k, bool busy, Result<Lease> lease) {
    if (!lease.is_ok()) {
      ++r_.rejected;
      return;
    }
    if (auto from = lease->cold_from()) ++r_.cold_requests_by_rung[policy::index(*from)];
    const Rung rung = busy || !lease->cold_from() ? Rung::kWarm : *lease->cold_from();
    ++r_.starts_by_rung[policy::index(rung)];
    if (rung != Rung::kWarm) ++app_cold_[i];
    if (policy::is_expensive(rung)) ++app_expensive_[i];
    const TraceApp& app = trace_.apps[i];
    const Nanos now = clock_.now();
    const double added_ms = to_ms(now - from_us(app.arrival_us[k]));
    latencies_.push_back(static_cast<float>(added_ms));
    if (opts_.on_request) opts_.on_request(i, k, static_cast<float>(added_ms));
    latency_sum_ms_ += added_ms;
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(leases_.size());
      leases_.emplace_back();
    }
    leases_[slot].emplace(std::move(lease).value());
    const Nanos end = now + from_ms(app.duration_ms[k]);
    releases_.push({end, slot, i});
    accounts_[i].end = std::max(accounts_[i].end, end);
  }

  void loop() {
    const Nanos horizon = trace_.horizon;
    Nanos next_minute = policy::kMinute;
    uint64_t reported = 0;
    for (;;) {
      while (!wakes_.empty() && wakes_.top().version != version_[wakes_.top().app]) wakes_.pop();
      std::optional<Nanos> t;
      auto consider = [&](Nanos c) {
        if (!t || c < *t) t = c;
      };
      if (!arrivals_.empty()) consider(from_us(arrivals_.top().us));
      if (!releases_.empty()) consider(releases_.top().at);
      const bool more = !arrivals_.empty() || !releases_.empty();
      // After the last request, the ladder's own moves still matter up to the horizon.
      if (auto due = fake_->next_due(); due && (more || *due <= horizon)) consider(*due);
      if (!wakes_.empty() && (more || wakes_.top().at <= horizon)) consider(wakes_.top().at);
      if (next_minute <= horizon) consider(next_minute);
      if (!t) break;
      clock_.set(*t);
      const Nanos now = *t;
      while (!releases_.empty() && releases_.top().at <= now) {
        Release rel = releases_.top();
        releases_.pop();
        touch(rel.app);
        leases_[rel.slot].reset();
        free_.push_back(rel.slot);
      }
      fake_->run_due(now);
      while (!wakes_.empty() && wakes_.top().at <= now) {
        Wake w = wakes_.top();
        wakes_.pop();
        if (w.version != version_[w.app]) continue;
        touch(w.app);
        manager_->controller().tick_model(*states_[w.app], now);
      }
      while (!arrivals_.empty() && from_us(arrivals_.top().us) <= now) {
        uint32_t i = arrivals_.top().app;
        arrivals_.pop();
        arrive(i);
      }
      fake_->run_due(now);
      if (now >= next_minute) {
        for (uint32_t i = 0; i < states_.size(); ++i) touch(i);
        manager_->tick();  // the policy's minute, every model's timed work, memory
        fake_->run_due(now);
        next_minute += policy::kMinute;
      }
      refresh_dirty();
      if (opts_.progress && done_ - reported >= 500'000) {
        reported = done_;
        opts_.progress(done_);
      }
    }
    if (opts_.progress) opts_.progress(done_);
  }

  void finish() {
    r_.store_evictions = fake_->store_evictions();
    const Nanos horizon = trace_.horizon;
    double span = 0.0;
    for (uint32_t i = 0; i < states_.size(); ++i) {
      const Nanos end = std::max(horizon, accounts_[i].end);
      account(i, end);
      span += to_seconds(end);
    }
    r_.span_seconds = span;
    for (uint32_t i = 0; i < states_.size(); ++i) {
      const ModelState& m = *states_[i];
      {
        std::lock_guard lock(m.mu);
        for (Rung rung : policy::kAllRungs)
          r_.instance_starts_by_rung[policy::index(rung)] += m.counters.cold_starts[policy::index(rung)];
      }
      const TraceApp& app = trace_.apps[i];
      if (opts_.per_app && !app.arrival_us.empty()) {
        const double calls = static_cast<double>(app.arrival_us.size());
        r_.app_cold_pct.push_back(static_cast<float>(100.0 * static_cast<double>(app_cold_[i]) / calls));
        r_.app_expensive_pct.push_back(static_cast<float>(100.0 * static_cast<double>(app_expensive_[i]) / calls));
      }
    }
    r_.invocations = done_;
    summarise(r_, latencies_, latency_sum_ms_, opts_.price_gb_s);
    manager_->shutdown(std::chrono::milliseconds(0));
  }

  const Trace& trace_;
  const SimOptions& opts_;
  SimResult& r_;
  ManualClock clock_{Nanos{0}};
  manager::FakeLauncher* fake_ = nullptr;
  std::unique_ptr<manager::Manager> manager_;
  std::vector<ModelState*> states_;
  std::vector<Account> accounts_;
  std::vector<uint64_t> app_cold_, app_expensive_;
  std::vector<size_t> next_;
  std::vector<uint64_t> version_;
  std::vector<char> dirty_flag_;
  std::vector<uint32_t> dirty_;
  MinHeap<Arrival> arrivals_;
  MinHeap<Release> releases_;
  MinHeap<Wake> wakes_;
  std::vector<std::optional<Lease>> leases_;
  std::vector<uint32_t> free_;
  std::vector<float> latencies_;
  double latency_sum_ms_ = 0.0;
  uint64_t done_ = 0;
};

}  // namespace

void summarise(SimResult& r, std::vector<float>& latencies, double latency_sum_ms, double price_gb_s) {
  uint64_t cold = 0, expensive = 0;
  for (Rung rung : policy::kAllRungs) {
    if (rung != Rung::kWarm) cold += r.starts_by_rung[policy::index(rung)];
    if (policy::is_expensive(rung)) expensive += r.starts_by_rung[policy::index(rung)];
  }
  if (r.invocations > 0) {
    r.cold_pct = 100.0 * static_cast<double>(cold) / static_cast<double>(r.invocations);
    r.expensive_pct = 100.0 * static_cast<double>(expensive) / static_cast<double>(r.invocations);
  }
  if (!latencies.empty()) {
    r.latency_mean_ms = latency_sum_ms / static_cast<double>(latencies.size());
    auto quantile = [&](double q) {
      size_t k = std::min(latencies.size() - 1, static_cast<size_t>(q * static_cast<double>(latencies.size())));
      std::nth_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(k), latencies.end());
      return static_cast<double>(latencies[k]);
    };
    r.latency_p50_ms = quantile(0.50);
    r.latency_p99_ms = quantile(0.99);
  }
  r.idle_gb_s = r.idle_gb_s_by_rung[policy::index(Rung::kWarm)] + r.idle_gb_s_by_rung[policy::index(Rung::kZygote)];
  r.page_cache_gb_s = r.idle_gb_s_by_rung[policy::index(Rung::kPageCache)];
  r.resident_gb_s = r.idle_gb_s + r.page_cache_gb_s;
  r.warm_idle_seconds = r.idle_seconds[policy::index(Rung::kWarm)];
  r.cost_usd = r.idle_gb_s * price_gb_s;
}

SimResult simulate(const Trace& trace, std::unique_ptr<policy::Policy> pol, const SimOptions& opts) {
  const auto wall_start = std::chrono::steady_clock::now();
  SimResult r;
  r.policy = pol->spec();
  // The manager logs every start and stop; a day of a trace is millions of them.
  if (spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
  Replay replay(trace, opts, r);
  Status s = replay.run(std::move(pol));
  if (!s.is_ok()) spdlog::error("simulation: {}", s.to_string());
  r.runtime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return r;
}

}  // namespace thaw::sim
