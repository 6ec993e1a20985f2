#include "manager/fetching_launcher.h"

namespace thaw::manager {

namespace {

// A handle that holds its bundle's store lease for as long as the manager keeps the handle.
class LeasedWorker final : public WorkerHandle {
 public:
  LeasedWorker(std::shared_ptr<WorkerHandle> inner, std::shared_ptr<StoreLease> lease)
      : inner_(std::move(inner)), lease_(std::move(lease)) {}
  pid_t pid() const override { return inner_->pid(); }
  const http::Endpoint& endpoint() const override { return inner_->endpoint(); }
  bool forked() const override { return inner_->forked(); }
  bool alive() override { return inner_->alive(); }
  uint64_t memory_bytes() override { return inner_->memory_bytes(); }
  const std::shared_ptr<WorkerHandle>& inner() const { return inner_; }

 private:
  std::shared_ptr<WorkerHandle> inner_;
  std::shared_ptr<StoreLease> lease_;
};

class LeasedZygote final : public ZygoteHandle {
 public:
  LeasedZygote(std::shared_ptr<ZygoteHandle> inner, std::shared_ptr<StoreLease> lease)
      : inner_(std::move(inner)), lease_(std::move(lease)) {}
  pid_t pid() const override { return inner_->pid(); }
  bool alive() override { return inner_->alive(); }
  uint64_t memory_bytes() override { return inner_->memory_bytes(); }
  const std::shared_ptr<ZygoteHandle>& inner() const { return inner_; }

 private:
  std::shared_ptr<ZygoteHandle> inner_;
  std::shared_ptr<StoreLease> lease_;
};

std::shared_ptr<WorkerHandle> unwrap(std::shared_ptr<WorkerHandle> w) {
  if (auto* l = dynamic_cast<LeasedWorker*>(w.get())) return l->inner();
  return w;
}
std::shared_ptr<ZygoteHandle> unwrap(std::shared_ptr<ZygoteHandle> z) {
  if (auto* l = dynamic_cast<LeasedZygote*>(z.get())) return l->inner();
  return z;
}

}  // namespace

FetchingLauncher::FetchingLauncher(std::unique_ptr<Launcher> inner, ModelStore& store, int threads)
    : inner_(std::move(inner)), store_(store), pool_(threads, 1024) {}

FetchingLauncher::~FetchingLauncher() = default;

void FetchingLauncher::start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) {
  if (!store_.knows(spec.bundle)) return inner_->start_instance(spec, unwrap(std::move(zygote)), std::move(done));
  // The number of starts in flight is bounded by the models' max_instances: never refused.
  pool_.submit_continuation([this, spec, zygote = unwrap(std::move(zygote)), done = std::move(done)] {
    auto lease = store_.ensure(spec.bundle);
    if (!lease.is_ok()) return done(lease.status());
    inner_->start_instance(spec, zygote, [done, lease = *lease](Result<std::shared_ptr<WorkerHandle>> r) {
      if (!r.is_ok()) return done(r.status());
      done(std::shared_ptr<WorkerHandle>(std::make_shared<LeasedWorker>(std::move(r).value(), lease)));
    });
  });
}

void FetchingLauncher::start_zygote(const StartSpec& spec, ZygoteDone done) {
  if (!store_.knows(spec.bundle)) return inner_->start_zygote(spec, std::move(done));
  pool_.submit_continuation([this, spec, done = std::move(done)] {
    auto lease = store_.ensure(spec.bundle);
    if (!lease.is_ok()) return done(lease.status());
    inner_->start_zygote(spec, [done, lease = *lease](Result<std::shared_ptr<ZygoteHandle>> r) {
      if (!r.is_ok()) return done(r.status());
      done(std::shared_ptr<ZygoteHandle>(std::make_shared<LeasedZygote>(std::move(r).value(), lease)));
    });
  });
}

void FetchingLauncher::stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds grace, Done done) {
  inner_->stop(unwrap(std::move(worker)), grace, std::move(done));
}

void FetchingLauncher::kill(std::shared_ptr<WorkerHandle> worker) { inner_->kill(unwrap(std::move(worker))); }

void FetchingLauncher::stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds grace, Done done) {
  inner_->stop_zygote(unwrap(std::move(zygote)), grace, std::move(done));
}

void FetchingLauncher::ping(std::shared_ptr<WorkerHandle> worker, Done done) {
  inner_->ping(unwrap(std::move(worker)), std::move(done));
}

policy::Rung FetchingLauncher::storage_rung(const std::string& bundle) {
  if (store_.knows(bundle) && !store_.present(bundle)) return policy::Rung::kRegistry;
  return inner_->storage_rung(bundle);
}

void FetchingLauncher::warm_page_cache(const std::string& bundle, Done done) {
  if (!store_.knows(bundle) || store_.present(bundle)) return inner_->warm_page_cache(bundle, std::move(done));
  pool_.submit_continuation([this, bundle, done = std::move(done)] {
    auto lease = store_.ensure(bundle);
    if (!lease.is_ok()) {
      if (done) done(lease.status());
      return;
    }
    inner_->warm_page_cache(bundle, [done, lease = *lease](Status s) {
      if (done) done(s);
    });
  });
}

void FetchingLauncher::evict(const std::string& bundle, Done done) {
  if (store_.knows(bundle) && !store_.present(bundle)) {
    if (done) pool_.submit_continuation([done] { done(Status::ok()); });
    return;
  }
  inner_->evict(bundle, std::move(done));
}

uint64_t FetchingLauncher::cached_bytes(const std::string& bundle) {
  if (store_.knows(bundle) && !store_.present(bundle)) return 0;
  return inner_->cached_bytes(bundle);
}

double FetchingLauncher::fetch_cost_ms(const std::string& bundle) {
  return store_.knows(bundle) ? store_.fetch_cost_ms(bundle) : inner_->fetch_cost_ms(bundle);
}

void FetchingLauncher::drain(std::chrono::milliseconds limit) { inner_->drain(limit); }

}  // namespace thaw::manager
