#include "manager/process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "manager/proc_stat.h"
#include "manager/spawn.h"
#include "protocol/line_io.h"
#include "protocol/worker_protocol.h"

namespace thaw::manager {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kDestructorGrace{5'000};
constexpr milliseconds kKillWait{2'000};  // SIGKILL to gone: the kernel's part, normally < 1 ms

std::vector<std::string> with_exe_args(const LaunchOptions& options, std::vector<std::string> args) {
  args.insert(args.begin(), options.exe_args.begin(), options.exe_args.end());
  return args;
}

// Stops a process this one may or may not have started: SIGTERM, wait for `gone` up to
// `grace`, then SIGKILL and wait for `gone` a little more.
template <typename Gone>
void terminate(pid_t pid, milliseconds grace, Gone&& gone) {
  if (gone()) return;
  ::kill(pid, SIGTERM);
  if (poll_until(gone, grace)) return;
  if (gone()) return;
  ::kill(pid, SIGKILL);
  poll_until(gone, kKillWait);
}

Status check_listen(const http::Endpoint& listen) {
  if (listen.is_unix() && listen.unix_path.size() >= sizeof(sockaddr_un{}.sun_path))
    return make_error(Code::kInvalidArgument, "Unix socket path '{}' is too long", listen.unix_path);
  return Status::ok();
}

Result<UniqueFd> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return make_error(Code::kInvalidArgument, "control socket path '{}' is too long", path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return make_error(Code::kIo, "socket: {}", std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int rc;
  do rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    // A full backlog (EAGAIN) is as much "unavailable" as a missing socket.
    return make_error(Code::kUnavailable, "cannot connect to the zygote at {}: {}", path,
                      std::strerror(errno));
  }
  return fd;
}

}  // namespace

// ----- InstanceProcess -----------------------------------------------------------------------

InstanceProcess::InstanceProcess(pid_t pid, http::Endpoint endpoint, bool forked)
    : pid_(pid), endpoint_(std::move(endpoint)), forked_(forked) {
  if (forked_) {
    auto st = read_proc_stat(pid_);
    if (st)
      start_ticks_ = st->start_ticks;
    else
      exited_ = true;
  }
}

Result<std::unique_ptr<InstanceProcess>> InstanceProcess::spawn(const LaunchOptions& options,
                                                                const http::Endpoint& listen) {
  THAW_TRY(check_listen(listen));
  auto deadline = steady_clock::now() + options.ready_timeout;
  ChildSpec spec{options.thaw_exe,
                 with_exe_args(options, protocol::instance_args(options.bundle, listen, options.args)),
                 options.log_path};
  THAW_ASSIGN_OR_RETURN(StartedChild child, start_child(spec));
  // The ready line names the endpoint actually bound (port 0 becomes the chosen port).
  THAW_ASSIGN_OR_RETURN(http::Endpoint endpoint,
                        wait_ready(child, options.log_path, deadline, "worker for " + options.bundle));
  return std::make_unique<InstanceProcess>(child.pid, std::move(endpoint), false);
}

InstanceProcess::~InstanceProcess() { stop(kDestructorGrace); }

bool InstanceProcess::alive() {
  if (exited_ || pid_ <= 0) return false;
  const bool gone = forked_ ? !process_running(pid_, start_ticks_) : reap_if_exited(pid_);
  if (gone) exited_ = true;  // only ever set: a racing caller may have seen it still running
  return !gone;
}

void InstanceProcess::stop(milliseconds grace) {
  if (pid_ <= 0) return;
  terminate(pid_, grace, [this] { return !alive(); });
}

void InstanceProcess::kill() {
  if (pid_ <= 0 || !alive()) return;
  ::kill(pid_, SIGKILL);
  poll_until([this] { return !alive(); }, kKillWait);
}

// ----- ZygoteProcess -------------------------------------------------------------------------

ZygoteProcess::ZygoteProcess(pid_t pid, std::string control_path)
    : pid_(pid), control_path_(std::move(control_path)) {}

Result<std::unique_ptr<ZygoteProcess>> ZygoteProcess::spawn(const LaunchOptions& options,
                                                            std::string control_path) {
  if (control_path.empty()) return make_error(Code::kInvalidArgument, "no control socket path given");
  THAW_TRY(check_listen(http::Endpoint::unix_socket(control_path)));
  auto deadline = steady_clock::now() + options.ready_timeout;
  ChildSpec spec{options.thaw_exe,
                 with_exe_args(options, protocol::zygote_args(options.bundle, control_path, options.args)),
                 options.log_path};
  THAW_ASSIGN_OR_RETURN(StartedChild child, start_child(spec));
  std::string what = "zygote for " + options.bundle;
  THAW_ASSIGN_OR_RETURN(http::Endpoint control, wait_ready(child, options.log_path, deadline, what));
  if (control.unix_path != control_path) {
    kill_and_reap(child.pid, kKillWait);
    return make_error(Code::kCorrupt, "{} (pid {}) reported its control socket at '{}', not at unix:{}", what,
                      child.pid, control.to_string(), control_path);
  }
  return std::make_unique<ZygoteProcess>(child.pid, std::move(control_path));
}

ZygoteProcess::~ZygoteProcess() { stop(kDestructorGrace); }

bool ZygoteProcess::alive() {
  if (exited_ || pid_ <= 0) return false;
  const bool gone = reap_if_exited(pid_);
  if (gone) exited_ = true;
  return !gone;
}

void ZygoteProcess::stop(milliseconds grace) {
  if (pid_ <= 0) return;
  terminate(pid_, grace, [this] { return !alive(); });
}

void ZygoteProcess::kill() {
  if (pid_ <= 0 || !alive()) return;
  ::kill(pid_, SIGKILL);
  poll_until([this] { return !alive(); }, kKillWait);
}

Result<std::unique_ptr<InstanceProcess>> ZygoteProcess::fork_instance(const http::Endpoint& listen,
                                                                      milliseconds timeout) {
  THAW_TRY(check_listen(listen));
  if (!alive()) return make_error(Code::kUnavailable, "the zygote (pid {}) has exited", pid_);
  auto deadline = steady_clock::now() + timeout;
  THAW_ASSIGN_OR_RETURN(UniqueFd conn, connect_unix(control_path_));
  if (Status sent = protocol::write_line(conn.get(), protocol::format_fork(listen), deadline); !sent.is_ok())
    return sent.with_context("sending the fork command to the zygote");
  auto line = protocol::read_line(conn.get(), deadline);
  if (!line.is_ok()) {
    switch (line.status().code()) {
      case Code::kDeadlineExceeded:
        return make_error(Code::kDeadlineExceeded, "the zygote's child was not ready within {} ms",
                          timeout.count());
      case Code::kUnavailable:
        return make_error(Code::kUnavailable, "the zygote closed the control connection without an answer");
      default:
        return line.status().with_context("the zygote's answer");
    }
  }
  pid_t stray = -1;
  auto reply = protocol::parse_forked(*line, &stray);
  if (!reply.is_ok()) {
    if (stray > 0) InstanceProcess(stray, {}, true).kill();  // a child nobody could reach
    return reply.status().code() == Code::kUnavailable
               ? reply.status().with_context("the zygote could not start a child")
               : reply.status();
  }
  return std::make_unique<InstanceProcess>(reply->pid, std::move(reply->endpoint), true);
}

}  // namespace thaw::manager
