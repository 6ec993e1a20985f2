// The launcher for real: workers are `thaw run` processes (or children forked by a `thaw run
// --zygote` template), started on a few long-lived threads (a child dies with the thread that
// forked it, PR_SET_PDEATHSIG), with stops, pings and page-cache work on others so that a slow
// graceful stop never delays a start.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "manager/launcher.h"

namespace thaw::manager {

// A few threads running queued work in order of arrival.
class TaskThreads {
 public:
  explicit TaskThreads(int threads);
  ~TaskThreads();  // runs what is queued, then joins
  void post(std::function<void()> fn);
  // Waits until nothing is queued or running, at most `limit`; false on timeout.
  bool drain(std::chrono::milliseconds limit);

 private:
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> queue_;
  int running_ = 0;
  bool closed_ = false;
  std::vector<std::thread> threads_;
};

struct ProcessLauncherOptions {
  std::string thaw_exe;  // the binary workers run as (`thaw run`)
  int start_threads = 4;
  int work_threads = 2;
};

class ProcessLauncher final : public Launcher {
 public:
  explicit ProcessLauncher(ProcessLauncherOptions options);
  ~ProcessLauncher() override;

  void start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) override;
  void start_zygote(const StartSpec& spec, ZygoteDone done) override;
  void stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds grace, Done done) override;
  void kill(std::shared_ptr<WorkerHandle> worker) override;
  void stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds grace, Done done) override;
  void ping(std::shared_ptr<WorkerHandle> worker, Done done) override;
  policy::Rung storage_rung(const std::string& bundle) override;
  void warm_page_cache(const std::string& bundle, Done done) override;
  void evict(const std::string& bundle, Done done) override;
  uint64_t cached_bytes(const std::string& bundle) override;
  void drain(std::chrono::milliseconds limit) override;

 private:
  ProcessLauncherOptions options_;
  // Destroyed in reverse: starts finishing during destruction may still queue a stop.
  TaskThreads work_;
  TaskThreads starts_;
};

}  // namespace thaw::manager
