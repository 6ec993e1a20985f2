#include "manager/fetching_launcher.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

namespace thaw::manager {

// A start begun on a copy still arriving (start while fetching): joins the instance's start with
// the rest of the fetch. The instance is reported as soon as it is ready (it has read only bytes
// that arrived, each checked against its chunk's id); a fetch that then fails kills it (its handle
// reports it dead at once), and a start not reported yet fails with the fetch's error. The copy's
// lease, once the fetch ends, is held here, so by the instance's handle. A start that fails is
// reported once the fetch ends, with the fetch's error when that failed too (the root cause: the
// worker found its file gone). Thread-safe.
struct FetchingLauncher::EarlyStart {
  std::mutex mu;
  InstanceDone done;                      // cleared once called
  // The worker's own name for the arriving copy (a hard link: the fetch may rename or delete its
  // temp file before the worker opens it), removed once the instance started or failed.
  std::string link;
  std::optional<Status> instance_error;   // a failed start, waiting for the fetch's end
  bool fetch_done = false;
  Status fetch_status;
  std::shared_ptr<StoreLease> lease;      // from the fetch's end
  std::shared_ptr<WorkerHandle> worker;   // the inner instance, once ready
  std::atomic<bool> failed{false};        // the fetch failed: the instance is (being) killed
  std::condition_variable start_ended_cv;  // the rest of the fetch waits on it
  bool start_ended = false;               // ready or failed
};

namespace {

// The rest of a fetch waits this long at most for a start while fetching to end: on two cores the
// rest's hashing and writing would take CPU and disk from the start the first request waits for,
// and the start reads nothing the rest brings. (Bounded: a start that hangs delays the copy only so long.)
constexpr auto kRestWaitsForTheStartAtMost = std::chrono::seconds(3);

// A handle that holds its bundle's store lease for as long as the manager keeps the handle.
class LeasedWorker final : public WorkerHandle {
 public:
  LeasedWorker(std::shared_ptr<WorkerHandle> inner, std::shared_ptr<StoreLease> lease,
               std::shared_ptr<FetchingLauncher::EarlyStart> early = nullptr)
      : inner_(std::move(inner)), lease_(std::move(lease)), early_(std::move(early)) {}
  pid_t pid() const override { return inner_->pid(); }
  const http::Endpoint& endpoint() const override { return inner_->endpoint(); }
  bool forked() const override { return inner_->forked(); }
  bool alive() override { return !(early_ && early_->failed.load()) && inner_->alive(); }
  uint64_t memory_bytes() override { return inner_->memory_bytes(); }
  Status killed_because() override {
    if (!early_ || !early_->failed.load()) return inner_->killed_because();
    std::lock_guard lock(early_->mu);
    return early_->fetch_status;
  }
  const std::shared_ptr<WorkerHandle>& inner() const { return inner_; }

 private:
  std::shared_ptr<WorkerHandle> inner_;
  std::shared_ptr<StoreLease> lease_;
  std::shared_ptr<FetchingLauncher::EarlyStart> early_;  // a start while fetching: holds its lease
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
    // A fresh instance may start on the copy while it arrives, unless its flags ask the worker to
    // verify the whole file (which has not all arrived).
    const bool may_begin = !zygote && std::none_of(spec.args.begin(), spec.args.end(), [](const std::string& a) {
      return a == "--verify" || a.starts_with("--verify=");
    });
    std::shared_ptr<EarlyStart> early;
    std::function<void(const std::string&)> on_first_phase;
    if (may_begin) {
      on_first_phase = [&](const std::string& temp) {
        if (early) return;  // a second fetch (the budget took the first copy at once): one start
        // "NAME/VERSION.thaw.PID-N-start.tmp": a ".tmp" name, so a crash leaves what open() removes.
        const std::string link = temp.substr(0, temp.size() - 4) + "-start.tmp";
        if (::link(temp.c_str(), link.c_str()) != 0) {
          spdlog::warn("model store: cannot link {} for a start while fetching ({}): starting after the fetch", temp,
                       std::strerror(errno));
          return;
        }
        early = std::make_shared<EarlyStart>();
        early->done = done;
        early->link = link;
        StartSpec s = spec;
        s.bundle = link;
        // Every byte it reads was checked against its chunk's id on arrival (the store records the
        // finished copy verified for later starts the same way).
        s.args.insert(s.args.end(), {"--verify", "never"});
        inner_->start_instance(s, nullptr, [this, early](Result<std::shared_ptr<WorkerHandle>> r) {
          early_instance_ready(early, std::move(r));
        });
        std::unique_lock lock(early->mu);
        early->start_ended_cv.wait_for(lock, kRestWaitsForTheStartAtMost, [&] { return early->start_ended; });
      };
    }
    auto lease = store_.ensure(spec.bundle, on_first_phase);
    if (early) return early_fetch_done(early, std::move(lease));
    if (!lease.is_ok()) return done(lease.status());
    inner_->start_instance(spec, zygote, [done, lease = *lease](Result<std::shared_ptr<WorkerHandle>> r) {
      if (!r.is_ok()) return done(r.status());
      done(std::shared_ptr<WorkerHandle>(std::make_shared<LeasedWorker>(std::move(r).value(), lease)));
    });
  });
}

namespace {
void remove_link_locked(FetchingLauncher::EarlyStart& early) {
  if (!early.link.empty()) ::unlink(early.link.c_str());
  early.link.clear();
}
}  // namespace

void FetchingLauncher::early_instance_ready(const std::shared_ptr<EarlyStart>& early,
                                            Result<std::shared_ptr<WorkerHandle>> r) {
  InstanceDone done;
  Result<std::shared_ptr<WorkerHandle>> report = make_error(Code::kInternal, "unset");
  std::shared_ptr<WorkerHandle> to_kill;
  {
    std::lock_guard lock(early->mu);
    remove_link_locked(*early);  // started (its mapping holds the inode) or failed
    early->start_ended = true;
    early->start_ended_cv.notify_all();
    if (!r.is_ok() && !early->fetch_done) {
      early->instance_error = r.status();  // reported when the fetch ends
      return;
    }
    done = std::move(early->done);
    early->done = nullptr;
    if (early->fetch_done && !early->fetch_status.is_ok()) {
      if (r.is_ok()) to_kill = *r;
      report = early->fetch_status;
    } else if (!r.is_ok()) {
      report = r.status();
    } else {
      early->worker = *r;
      report = std::shared_ptr<WorkerHandle>(std::make_shared<LeasedWorker>(std::move(r).value(), nullptr, early));
    }
  }
  if (to_kill) inner_->kill(std::move(to_kill));
  if (done) done(std::move(report));
}

void FetchingLauncher::early_fetch_done(const std::shared_ptr<EarlyStart>& early,
                                        Result<std::shared_ptr<StoreLease>> lease) {
  InstanceDone done;
  Status failed_start;
  std::shared_ptr<WorkerHandle> to_kill;
  {
    std::lock_guard lock(early->mu);
    early->fetch_done = true;
    if (lease.is_ok()) {
      early->lease = std::move(lease).value();
    } else {
      early->fetch_status = lease.status();
      early->failed.store(true);
      remove_link_locked(*early);  // nothing partial stays in the store
      to_kill = std::move(early->worker);  // reported already: it dies, and the manager replaces it
    }
    if (early->instance_error) {
      done = std::move(early->done);
      early->done = nullptr;
      failed_start = lease.is_ok() ? *early->instance_error : lease.status();
    }
  }
  if (to_kill) {
    spdlog::warn("model store: stopping instance pid {} (started while fetching its bundle): {}", to_kill->pid(),
                 lease.status().to_string());
    inner_->kill(std::move(to_kill));
  }
  if (done) done(failed_start);
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
