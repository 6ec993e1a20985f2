#include "manager/process.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/unique_fd.h"
#include "manager/proc_stat.h"
#include "manager/spawn.h"

namespace thaw::manager {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kDestructorGrace{5'000};
constexpr milliseconds kKillWait{2'000};  // SIGKILL to gone: the kernel's part, normally < 1 ms
constexpr size_t kMaxControlLine = 4096;

std::vector<std::string> listen_flags(const http::Endpoint& listen) {
  if (listen.is_unix()) return {"--unix", listen.unix_path};
  return {"--host", listen.host, "--port", std::to_string(listen.port)};
}

std::vector<std::string> run_args(const LaunchOptions& options, std::vector<std::string> mode_flags) {
  std::vector<std::string> args{"run", options.bundle};
  args.insert(args.end(), mode_flags.begin(), mode_flags.end());
  args.insert(args.end(), {"--ready-fd", std::to_string(kChildReadyFd)});
  args.insert(args.end(), options.args.begin(), options.args.end());
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

// Writes all of `text` to a non-blocking socket before `deadline`.
Status send_all(int fd, std::string_view text, steady_clock::time_point deadline) {
  while (!text.empty()) {
    ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n > 0) {
      text.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return make_error(Code::kUnavailable, "sending to the zygote: {}", std::strerror(errno));
    auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0)
      return make_error(Code::kDeadlineExceeded, "zygote did not take the command in time");
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return Status::ok();
}

// Reads one '\n'-terminated line (returned without it) before `deadline`.
Result<std::string> read_line(int fd, steady_clock::time_point deadline, milliseconds timeout) {
  std::string line;
  char buf[512];
  for (;;) {
    auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0)
      return make_error(Code::kDeadlineExceeded, "the zygote's child was not ready within {} ms",
                        timeout.count());
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return make_error(Code::kIo, "poll: {}", std::strerror(errno));
    if (rc <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0)
      return make_error(Code::kUnavailable, "the zygote closed the control connection without an answer");
    line.append(buf, static_cast<size_t>(n));
    if (size_t nl = line.find('\n'); nl != std::string::npos) {
      line.resize(nl);
      return line;
    }
    if (line.size() > kMaxControlLine) return make_error(Code::kCorrupt, "the zygote's answer is too long");
  }
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
  ChildSpec spec{options.thaw_exe, run_args(options, listen_flags(listen)), options.log_path};
  THAW_ASSIGN_OR_RETURN(StartedChild child, start_child(spec));
  std::string what = "worker for " + options.bundle;
  THAW_ASSIGN_OR_RETURN(std::string line, wait_ready_line(child, options.log_path, deadline, what));
  // The ready line names the endpoint actually bound (port 0 becomes the chosen port).
  auto endpoint = line.starts_with("ready ")
                      ? http::Endpoint::parse(std::string_view(line).substr(6))
                      : Result<http::Endpoint>(make_error(Code::kCorrupt, "not a ready line"));
  if (!endpoint.is_ok()) {
    kill_and_reap(child.pid, kKillWait);
    return make_error(Code::kCorrupt, "{} (pid {}) reported '{}' instead of \"ready <endpoint>\": {}", what,
                      child.pid, line, endpoint.status().to_string());
  }
  return std::make_unique<InstanceProcess>(child.pid, std::move(endpoint).value(), false);
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
  ChildSpec spec{options.thaw_exe, run_args(options, {"--zygote", control_path}), options.log_path};
  THAW_ASSIGN_OR_RETURN(StartedChild child, start_child(spec));
  std::string what = "zygote for " + options.bundle;
  THAW_ASSIGN_OR_RETURN(std::string line, wait_ready_line(child, options.log_path, deadline, what));
  if (!line.starts_with("ready ")) {
    kill_and_reap(child.pid, kKillWait);
    return make_error(Code::kCorrupt, "{} (pid {}) reported '{}' instead of \"ready <control path>\"", what,
                      child.pid, line);
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
  THAW_TRY(send_all(conn.get(), "fork " + listen.to_string() + "\n", deadline));
  THAW_ASSIGN_OR_RETURN(std::string line, read_line(conn.get(), deadline, timeout));
  std::string_view rest = line;
  if (rest.starts_with("error"))
    return make_error(Code::kUnavailable, "the zygote could not start a child: {}",
                      rest.size() > 6 ? rest.substr(6) : std::string_view("(no reason given)"));
  if (!rest.starts_with("ready "))
    return make_error(Code::kCorrupt, "the zygote answered '{}' instead of \"ready <pid> <endpoint>\"", line);
  rest.remove_prefix(6);
  int pid = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || pid <= 0 || end == rest.data() + rest.size() || *end != ' ')
    return make_error(Code::kCorrupt, "the zygote answered '{}': no pid", line);
  auto endpoint = http::Endpoint::parse(rest.substr(static_cast<size_t>(end - rest.data()) + 1));
  if (!endpoint.is_ok()) {
    InstanceProcess(static_cast<pid_t>(pid), {}, true).kill();  // a child nobody could reach
    return endpoint.status().with_context("the zygote's answer '" + line + "'");
  }
  return std::make_unique<InstanceProcess>(static_cast<pid_t>(pid), std::move(endpoint).value(), true);
}

}  // namespace thaw::manager
