// Starting a worker process for the manager: fork + exec with the child tied to this process
// (PR_SET_PDEATHSIG), a clean descriptor table, the worker protocol's environment, and the ready
// pipe on which it reports (docs/worker-protocol.md, "Starting a worker").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "http/endpoint.h"
#include "protocol/worker_protocol.h"

namespace thaw::manager {

// The descriptor number the ready pipe's write end has in the child.
inline constexpr int kChildReadyFd = protocol::kReadyFd;

struct ChildSpec {
  std::string exe;                // absolute or relative path; not searched in PATH
  std::vector<std::string> args;  // argv[1..]
  std::string log_path;           // stdout and stderr appended here; "" means /dev/null
};

struct StartedChild {
  pid_t pid = -1;
  UniqueFd ready;           // read end of the ready pipe
  uint64_t log_offset = 0;  // the log's size before the child started: its own lines follow
};

// Forks and execs `spec`: stdin /dev/null, stdout and stderr appended to the log, the ready
// pipe as fd kChildReadyFd, every other descriptor closed, signal mask and common dispositions
// reset, SIGTERM when this thread dies, and the protocol's environment (the versions this side
// speaks, the exec time). Fails (child reaped) when exec fails.
Result<StartedChild> start_child(const ChildSpec& spec);

// Waits until `deadline` for the child's ready line and returns the endpoint it reports. On a
// timeout, an exit or a closed pipe before the line, an error line, a line of another protocol
// version (kUnsupported) or a garbled one, the child is killed and reaped and the error carries
// `what`, the cause (the worker's own message, its exit status) and the log tail.
Result<http::Endpoint> wait_ready(const StartedChild& child, const std::string& log_path,
                                  std::chrono::steady_clock::time_point deadline, std::string_view what);

// SIGKILL and reap an own child, waiting at most `limit` for the kernel to finish it.
void kill_and_reap(pid_t pid, std::chrono::milliseconds limit);

// Own child: true once it has exited (and is now reaped), or is not this process's child.
bool reap_if_exited(pid_t pid, int* wait_status = nullptr);

// "exited with status 1", "killed by signal 9".
std::string describe_wait_status(int wait_status);

// The last `max_lines` lines of `path` from byte `offset` on (at most the last 8 KiB), each
// indented; "" when the log is empty or unreadable.
std::string log_tail(const std::string& path, uint64_t offset, int max_lines = 20);

// Polls `done` with short sleeps until it returns true or `timeout` passes; returns its last value.
template <typename Done>
bool poll_until(Done&& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  for (;;) {
    if (done()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    struct timespec ts {};
    auto nap = std::min(step, left);
    ts.tv_nsec = static_cast<long>(std::chrono::nanoseconds(nap).count());
    ::nanosleep(&ts, nullptr);
    step = std::min(step * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace thaw::manager
