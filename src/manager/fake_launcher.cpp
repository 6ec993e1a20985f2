#include "manager/fake_launcher.h"

namespace thaw::manager {

using policy::Rung;

void FakeLauncher::schedule(Nanos after, std::string model, std::function<void()> fn) {
  // Callers hold mu_.
  tasks_.push(Task{clock_.now() + after, seq_++, std::move(fn), std::move(model)});
}

const FakeCosts& FakeLauncher::costs_for(const std::string& bundle) const {
  auto it = bundle_costs_.find(bundle);
  return it == bundle_costs_.end() ? costs_ : it->second;
}

void FakeLauncher::run_due(Nanos now) {
  for (;;) {
    std::function<void()> fn;
    std::string model;
    {
      std::lock_guard lock(mu_);
      if (tasks_.empty() || tasks_.top().due > now) return;
      Task& top = const_cast<Task&>(tasks_.top());
      fn = std::move(top.fn);
      model = std::move(top.model);
      tasks_.pop();
    }
    if (on_work_) on_work_(model);
    fn();
  }
}

std::optional<Nanos> FakeLauncher::next_due() const {
  std::lock_guard lock(mu_);
  if (tasks_.empty()) return std::nullopt;
  return tasks_.top().due;
}

void FakeLauncher::fail_next_starts(int n, Status why) {
  std::lock_guard lock(mu_);
  fail_starts_ = n;
  fail_why_ = std::move(why);
}

void FakeLauncher::set_costs(const std::string& bundle, FakeCosts costs) {
  std::lock_guard lock(mu_);
  bundle_costs_[bundle] = costs;
}

void FakeLauncher::set_storage(const std::string& bundle, Rung rung) {
  std::lock_guard lock(mu_);
  storage_[bundle] = rung;
}

void FakeLauncher::set_store_budget(uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (bytes == 0) {
    store_.reset();
    return;
  }
  cache::IndexLimits limits;
  limits.max_versions_per_model = 1 << 20;
  limits.byte_budget = bytes;
  store_ = std::make_unique<cache::VersionIndex>(clock_, limits);
}

uint64_t FakeLauncher::store_evictions() const {
  std::lock_guard lock(mu_);
  return store_evictions_;
}

std::vector<std::string> FakeLauncher::store_used_locked(const std::string& bundle, bool fetched) {
  if (!store_) return {};
  if (!fetched) {
    store_->touch(bundle, "");  // false for a file the store never fetched: nothing to do
    return {};
  }
  store_->add(bundle, "", costs_for(bundle).bundle_bytes, {});
  // Copies in use (a live instance or zygote of the model) are leased for the eviction.
  std::vector<std::string> held;
  auto hold = [&](const std::string& model) {
    auto it = bundle_of_.find(model);
    if (it != bundle_of_.end() && store_->acquire(it->second, "")) held.push_back(it->second);
  };
  for (const auto& w : workers_)
    if (w->alive()) hold(w->model());
  for (const auto& z : zygotes_)
    if (z->alive()) hold(z->model());
  cache::Eviction ev = store_->evict();
  for (const auto& b : held) store_->release(b, "");
  std::vector<std::string> evicted;
  for (auto& [name, version] : ev.versions) {
    storage_[name] = Rung::kRegistry;
    ++store_evictions_;
    evicted.push_back(name);
  }
  return evicted;
}

void FakeLauncher::read_in(const std::string& bundle) {
  std::vector<std::string> evicted;
  {
    std::lock_guard lock(mu_);
    auto it = storage_.find(bundle);
    const bool fetched = it != storage_.end() && it->second == Rung::kRegistry;
    storage_[bundle] = Rung::kPageCache;  // a fresh start (or a page-cache warm) read the bundle in
    evicted = store_used_locked(bundle, fetched);
  }
  for (const auto& b : evicted)
    if (on_work_ && b != bundle) on_work_(b);
}

std::vector<std::shared_ptr<FakeWorker>> FakeLauncher::workers() const {
  std::lock_guard lock(mu_);
  return workers_;
}

std::vector<std::shared_ptr<FakeZygote>> FakeLauncher::zygotes() const {
  std::lock_guard lock(mu_);
  return zygotes_;
}

void FakeLauncher::start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) {
  std::lock_guard lock(mu_);
  ++instance_starts_;
  last_instance_spec_ = spec;
  const FakeCosts& c = costs_for(spec.bundle);
  const bool fork = zygote && zygote->alive();
  const Rung from = fork ? Rung::kZygote : (storage_.count(spec.bundle) ? storage_[spec.bundle] : Rung::kDisk);
  if (fail_starts_ > 0) {
    --fail_starts_;
    schedule(c.start[policy::index(from)], spec.model, [done, why = fail_why_] { done(why); });
    return;
  }
  auto worker = std::make_shared<FakeWorker>(next_pid_++, spec.endpoint, fork, fork ? c.forked_bytes : c.instance_bytes,
                                             spec.model);
  if (forget_dead_) std::erase_if(workers_, [](const auto& w) { return !w->alive(); });
  workers_.push_back(worker);
  bundle_of_[spec.model] = spec.bundle;
  schedule(c.start[policy::index(from)], spec.model, [this, done, worker, bundle = spec.bundle, fork] {
    if (!fork) read_in(bundle);
    done(std::shared_ptr<WorkerHandle>(worker));
  });
}

void FakeLauncher::start_zygote(const StartSpec& spec, ZygoteDone done) {
  std::lock_guard lock(mu_);
  ++zygote_starts_;
  const FakeCosts& c = costs_for(spec.bundle);
  auto zygote = std::make_shared<FakeZygote>(next_pid_++, c.zygote_bytes, spec.model);
  if (forget_dead_) std::erase_if(zygotes_, [](const auto& z) { return !z->alive(); });
  zygotes_.push_back(zygote);
  const Rung from = storage_.count(spec.bundle) ? storage_[spec.bundle] : Rung::kDisk;
  const Nanos took = from >= Rung::kDisk ? c.start[policy::index(from)] : c.zygote_start;
  bundle_of_[spec.model] = spec.bundle;
  schedule(took, spec.model, [this, done, zygote, bundle = spec.bundle] {
    read_in(bundle);
    done(std::shared_ptr<ZygoteHandle>(zygote));
  });
}

void FakeLauncher::stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds, Done done) {
  std::lock_guard lock(mu_);
  ++stops_;
  auto& w = static_cast<FakeWorker&>(*worker);
  schedule(Nanos{0}, w.model(), [worker, done] {
    static_cast<FakeWorker&>(*worker).die();
    if (done) done(Status::ok());
  });
}

void FakeLauncher::kill(std::shared_ptr<WorkerHandle> worker) { stop(std::move(worker), std::chrono::milliseconds(0), nullptr); }

void FakeLauncher::stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds, Done done) {
  std::lock_guard lock(mu_);
  auto& z = static_cast<FakeZygote&>(*zygote);
  schedule(Nanos{0}, z.model(), [zygote, done] {
    static_cast<FakeZygote&>(*zygote).die();
    if (done) done(Status::ok());
  });
}

void FakeLauncher::ping(std::shared_ptr<WorkerHandle> worker, Done done) {
  std::lock_guard lock(mu_);
  auto& fw = static_cast<FakeWorker&>(*worker);
  schedule(Nanos{0}, fw.model(), [worker, done] {
    auto& w = static_cast<FakeWorker&>(*worker);
    done(w.alive() && !w.hung() ? Status::ok() : make_error(Code::kDeadlineExceeded, "no answer to GET /warm"));
  });
}

Rung FakeLauncher::storage_rung(const std::string& bundle) {
  std::lock_guard lock(mu_);
  auto it = storage_.find(bundle);
  return it == storage_.end() ? Rung::kDisk : it->second;
}

double FakeLauncher::fetch_cost_ms(const std::string& bundle) {
  std::lock_guard lock(mu_);
  auto it = storage_.find(bundle);
  if (it == storage_.end() || it->second != Rung::kRegistry) return 0.0;
  const FakeCosts& c = costs_for(bundle);
  return std::max(1e-3, to_ms(c.start[policy::index(Rung::kRegistry)] - c.start[policy::index(Rung::kDisk)]));
}

void FakeLauncher::warm_page_cache(const std::string& bundle, Done done) {
  std::lock_guard lock(mu_);
  // A bundle with no local copy is fetched first, as the fetching launcher does.
  const FakeCosts& c = costs_for(bundle);
  auto it = storage_.find(bundle);
  const Nanos fetch = it != storage_.end() && it->second == Rung::kRegistry
                          ? c.start[policy::index(Rung::kRegistry)] - c.start[policy::index(Rung::kDisk)]
                          : Nanos{0};
  schedule(c.warm_page_cache + fetch, bundle, [this, bundle, done] {
    read_in(bundle);
    if (done) done(Status::ok());
  });
}

void FakeLauncher::evict(const std::string& bundle, Done done) {
  std::lock_guard lock(mu_);
  schedule(Nanos{0}, bundle, [this, bundle, done] {
    {
      std::lock_guard lock(mu_);
      if (storage_[bundle] != Rung::kRegistry) storage_[bundle] = Rung::kDisk;  // no local copy stays none
    }
    if (done) done(Status::ok());
  });
}

void FakeLauncher::drain(std::chrono::milliseconds) {
  // Shutting down: whatever is queued happens now, whatever its due time.
  run_due(Nanos::max());
}

}  // namespace thaw::manager
