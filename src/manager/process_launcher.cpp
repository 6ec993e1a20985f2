#include "manager/process_launcher.h"

#include <spdlog/spdlog.h>

#include "http/client.h"
#include "loader/page_cache.h"
#include "manager/process.h"
#include "protocol/worker_protocol.h"

namespace thaw::manager {

using policy::Rung;

// ---------------------------------------------------------------- TaskThreads

TaskThreads::TaskThreads(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      for (;;) {
        std::function<void()> fn;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
          if (queue_.empty()) return;
          fn = std::move(queue_.front());
          queue_.pop_front();
          ++running_;
        }
        fn();
        std::lock_guard lock(mu_);
        --running_;
        if (running_ == 0 && queue_.empty()) idle_cv_.notify_all();
      }
    });
  }
}

TaskThreads::~TaskThreads() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TaskThreads::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

bool TaskThreads::drain(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, limit, [&] { return running_ == 0 && queue_.empty(); });
}

// ---------------------------------------------------------------- handles

namespace {

class ProcessWorker final : public WorkerHandle {
 public:
  explicit ProcessWorker(std::unique_ptr<InstanceProcess> p) : process_(std::move(p)) {}
  pid_t pid() const override { return process_->pid(); }
  const http::Endpoint& endpoint() const override { return process_->endpoint(); }
  bool forked() const override { return process_->forked(); }
  bool alive() override { return process_->alive(); }
  uint64_t memory_bytes() override {
    auto pss = pss_bytes(process_->pid());
    return pss.is_ok() ? *pss : 0;
  }
  InstanceProcess& process() { return *process_; }

 private:
  std::unique_ptr<InstanceProcess> process_;
};

class ProcessZygote final : public ZygoteHandle {
 public:
  explicit ProcessZygote(std::unique_ptr<ZygoteProcess> z) : zygote_(std::move(z)) {}
  pid_t pid() const override { return zygote_->pid(); }
  bool alive() override { return zygote_->alive(); }
  uint64_t memory_bytes() override {
    auto pss = pss_bytes(zygote_->pid());
    return pss.is_ok() ? *pss : 0;
  }
  ZygoteProcess& process() { return *zygote_; }

 private:
  std::unique_ptr<ZygoteProcess> zygote_;
};

LaunchOptions launch_options(const std::string& exe, const StartSpec& spec) {
  LaunchOptions o;
  o.thaw_exe = exe;
  o.bundle = spec.bundle;
  o.args = spec.args;
  o.log_path = spec.log_path;
  o.ready_timeout = spec.ready_timeout;
  return o;
}

}  // namespace

// ---------------------------------------------------------------- launcher

ProcessLauncher::ProcessLauncher(ProcessLauncherOptions options)
    : options_(std::move(options)), work_(options_.work_threads), starts_(options_.start_threads) {}

ProcessLauncher::~ProcessLauncher() = default;

void ProcessLauncher::start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) {
  starts_.post([this, spec, zygote = std::move(zygote), done = std::move(done)] {
    Result<std::unique_ptr<InstanceProcess>> process = make_error(Code::kInternal, "not started");
    if (zygote) {
      process = static_cast<ProcessZygote&>(*zygote).process().fork_instance(spec.endpoint, std::chrono::seconds(10));
      if (!process.is_ok())
        spdlog::warn("model={} zygote fork failed ({}); starting a worker instead", spec.model,
                     process.status().to_string());
    }
    if (!process.is_ok()) process = InstanceProcess::spawn(launch_options(options_.thaw_exe, spec), spec.endpoint);
    if (!process.is_ok()) return done(process.status());
    done(std::shared_ptr<WorkerHandle>(std::make_shared<ProcessWorker>(std::move(process).value())));
  });
}

void ProcessLauncher::start_zygote(const StartSpec& spec, ZygoteDone done) {
  starts_.post([this, spec, done = std::move(done)] {
    auto z = ZygoteProcess::spawn(launch_options(options_.thaw_exe, spec), spec.control_path);
    if (!z.is_ok()) return done(z.status());
    done(std::shared_ptr<ZygoteHandle>(std::make_shared<ProcessZygote>(std::move(z).value())));
  });
}

void ProcessLauncher::stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds grace, Done done) {
  work_.post([worker = std::move(worker), grace, done = std::move(done)] {
    static_cast<ProcessWorker&>(*worker).process().stop(grace);
    if (done) done(Status::ok());
  });
}

void ProcessLauncher::kill(std::shared_ptr<WorkerHandle> worker) {
  work_.post([worker = std::move(worker)] { static_cast<ProcessWorker&>(*worker).process().kill(); });
}

void ProcessLauncher::stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds grace, Done done) {
  work_.post([zygote = std::move(zygote), grace, done = std::move(done)] {
    static_cast<ProcessZygote&>(*zygote).process().stop(grace);
    if (done) done(Status::ok());
  });
}

void ProcessLauncher::ping(std::shared_ptr<WorkerHandle> worker, Done done) {
  work_.post([worker = std::move(worker), done = std::move(done)] {
    // A fresh connection with a short timeout: a hung instance must not hold up the others.
    http::Client client(http::ClientOptions{worker->endpoint(), std::chrono::seconds(2), 1 << 20, "thaw"});
    auto r = client.get(protocol::kWarmPath);
    if (!r.is_ok()) return done(r.status());
    if (r->status != 200) return done(make_error(Code::kUnavailable, "GET {} answered HTTP {}", protocol::kWarmPath, r->status));
    done(Status::ok());
  });
}

Rung ProcessLauncher::storage_rung(const std::string& bundle) {
  auto r = loader::residency(bundle);
  return r.is_ok() && r->fraction() >= 0.5 ? Rung::kPageCache : Rung::kDisk;
}

uint64_t ProcessLauncher::cached_bytes(const std::string& bundle) {
  auto r = loader::residency(bundle);
  return r.is_ok() ? r->resident_bytes : 0;
}

void ProcessLauncher::warm_page_cache(const std::string& bundle, Done done) {
  work_.post([bundle, done = std::move(done)] {
    Status s = loader::warm_page_cache(bundle);
    if (done) done(s);
  });
}

void ProcessLauncher::evict(const std::string& bundle, Done done) {
  work_.post([bundle, done = std::move(done)] {
    Status s = loader::evict(bundle);
    if (done) done(s);
  });
}

void ProcessLauncher::drain(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
  };
  starts_.drain(left());
  work_.drain(left());
}

}  // namespace thaw::manager
