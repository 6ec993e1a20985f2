// Processes the manager owns: workers started as `thaw run`, zygote templates (`thaw run
// --zygote`), and workers forked from a zygote. Handles are RAII: destroying one stops its
// process. Every wait is bounded; failures come back as values with the process's log tail.
//
// Children get PR_SET_PDEATHSIG(SIGTERM), which Linux ties to the *thread* that forked them:
// spawn from a thread that lives as long as the handles (not a short-lived helper thread).
// alive(), stop(), kill() and fork_instance() may be called from several threads at once.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/endpoint.h"

namespace thaw::manager {

// How to start a worker; the command line is EXE EXE_ARGS... BUNDLE <listen flags> --ready-fd 3
// ARGS... (docs/worker-protocol.md, "Starting a worker").
struct LaunchOptions {
  std::string thaw_exe;            // the worker executable (the gateway passes its own /proc/self/exe)
  // Arguments before the bundle: thaw's own worker is `thaw run`; another worker may need none.
  std::vector<std::string> exe_args{"run"};
  std::string bundle;              // the .thaw bundle to serve
  std::vector<std::string> args;   // extra worker flags, e.g. {"--warmup", "1"}
  std::string log_path;            // the child's stdout and stderr are appended here ("": /dev/null)
  std::chrono::milliseconds ready_timeout{120'000};
};

// One serving worker: either a `thaw run` child of this process or a child forked by a zygote.
class InstanceProcess {
 public:
  // Starts `thaw run BUNDLE <listen flags> --ready-fd 3 ARGS...` and waits for its ready line.
  // The child dies with this process (PR_SET_PDEATHSIG). On exit before ready, an error line, a
  // worker of another protocol version (kUnsupported) or a timeout (the child is killed), the
  // error names the cause and carries the last lines of the log.
  static Result<std::unique_ptr<InstanceProcess>> spawn(const LaunchOptions& options,
                                                        const http::Endpoint& listen);
  ~InstanceProcess();  // stop(5 s) if still running
  InstanceProcess(const InstanceProcess&) = delete;
  InstanceProcess& operator=(const InstanceProcess&) = delete;

  pid_t pid() const { return pid_; }
  const http::Endpoint& endpoint() const { return endpoint_; }
  // True for a zygote's child (its parent, the zygote, reaps it).
  bool forked() const { return forked_; }
  // False once the process has exited (a zombie counts as exited).
  bool alive();
  // SIGTERM, up to `grace` for requests in flight, then SIGKILL. Idempotent.
  void stop(std::chrono::milliseconds grace);
  // SIGKILL at once (memory pressure, tests). Idempotent.
  void kill();

  // For ZygoteProcess: adopts a pid forked by a zygote.
  InstanceProcess(pid_t pid, http::Endpoint endpoint, bool forked);

 private:
  pid_t pid_ = -1;
  http::Endpoint endpoint_;
  bool forked_ = false;
  std::atomic<bool> exited_{false};  // set once the process is known gone (and reaped if ours)
  uint64_t start_ticks_ = 0;  // forked: /proc start time, so a reused pid is not mistaken for it
};

// A zygote template: the model loaded and warmed once; forks ready instances in milliseconds.
class ZygoteProcess {
 public:
  // Starts `thaw run BUNDLE --zygote CONTROL_PATH --ready-fd 3 ARGS...` and waits until the
  // template is ready to fork; failures as for InstanceProcess::spawn.
  static Result<std::unique_ptr<ZygoteProcess>> spawn(const LaunchOptions& options,
                                                      std::string control_path);
  ~ZygoteProcess();  // stop(5 s): the template stops its children, then exits
  ZygoteProcess(const ZygoteProcess&) = delete;
  ZygoteProcess& operator=(const ZygoteProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& control_path() const { return control_path_; }
  bool alive();
  // Asks the template for a child serving on `listen` and waits for its "ready" answer: kUnavailable
  // when the template is gone or could not start the child, kDeadlineExceeded after `timeout`.
  Result<std::unique_ptr<InstanceProcess>> fork_instance(const http::Endpoint& listen,
                                                         std::chrono::milliseconds timeout);
  void stop(std::chrono::milliseconds grace);
  void kill();

  ZygoteProcess(pid_t pid, std::string control_path);

 private:
  pid_t pid_ = -1;
  std::string control_path_;
  std::atomic<bool> exited_{false};  // set once the process is known gone (and reaped if ours)
};

// Proportional set size of a live process in bytes (/proc/PID/smaps_rollup): shared pages are
// split between the processes that map them, so forked instances cost only what they dirtied.
Result<uint64_t> pss_bytes(pid_t pid);
// Resident set size in bytes: every page the process maps, shared ones counted in full.
Result<uint64_t> rss_bytes(pid_t pid);

}  // namespace thaw::manager
