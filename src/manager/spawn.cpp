#include "manager/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include "protocol/line_io.h"

extern char** environ;

namespace thaw::manager {
namespace {

constexpr off_t kTailBytes = 8192;
// A worker that closed its ready pipe or reported an error is exiting: how long to wait for its
// exit status before killing it.
constexpr std::chrono::seconds kExitWait{1};

// Everything the child needs, prepared before fork so the child only makes system calls.
struct ExecPlan {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  sigset_t empty_mask;
  pid_t parent = 0;
  int max_fd = 0;
};

// Moves `fd` to a number above the ones the child assigns (0-3), close-on-exec.
Status move_high(UniqueFd& fd, const char* what) {
  if (fd.get() > kChildReadyFd) return Status::ok();
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, kChildReadyFd + 1);
  if (moved < 0) return make_error(Code::kIo, "dup {}: {}", what, std::strerror(errno));
  fd.reset(moved);
  return Status::ok();
}

Result<UniqueFd> open_fd(const std::string& path, int flags, const char* what) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (!fd.valid()) return make_error(Code::kIo, "cannot open {} {}: {}", what, path, std::strerror(errno));
  THAW_TRY(move_high(fd, what));
  return fd;
}

uint64_t boottime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

ExecPlan make_plan(const ChildSpec& spec) {
  ExecPlan plan;
  plan.argv_storage.push_back(spec.exe);
  plan.argv_storage.insert(plan.argv_storage.end(), spec.args.begin(), spec.args.end());
  // The versions this side speaks, and the exec time the worker measures exec -> ready from.
  const std::string version_var = std::string(protocol::kVersionEnv) + "=";
  const std::string exec_var = std::string(protocol::kExecTimeEnv) + "=";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view var = *e;
    if (!var.starts_with(version_var) && !var.starts_with(exec_var)) plan.env_storage.emplace_back(var);
  }
  plan.env_storage.push_back(version_var + protocol::announced_versions());
  plan.env_storage.push_back(exec_var + std::to_string(boottime_ns()));
  for (auto& a : plan.argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : plan.env_storage) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  sigemptyset(&plan.empty_mask);
  plan.parent = ::getpid();
  rlimit lim{};
  plan.max_fd = (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
                    ? static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 1 << 20))
                    : 65536;
  return plan;
}

// Reports errno to the parent through the exec-error pipe and ends the child.
[[noreturn]] void exec_failed(int error_w, int err) {
  [[maybe_unused]] ssize_t n = ::write(error_w, &err, sizeof(err));
  ::_exit(127);
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void exec_child(const ExecPlan& plan, int devnull, int log, int ready_w, int error_w) {
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) exec_failed(error_w, errno);
  if (::getppid() != plan.parent) ::_exit(127);  // the parent died before prctl took effect
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT}) ::sigaction(sig, &dfl, nullptr);
  ::sigprocmask(SIG_SETMASK, &plan.empty_mask, nullptr);
  if (::dup2(devnull, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0 ||
      ::dup2(ready_w, kChildReadyFd) < 0)
    exec_failed(error_w, errno);
  // Everything above the ready fd goes at exec; error_w (close-on-exec) stays open until then.
  if (::close_range(kChildReadyFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = kChildReadyFd + 1; fd < plan.max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  exec_failed(error_w, errno);
}

// Waits for the exec-error pipe: EOF means exec succeeded, an int is the child's errno.
Result<int> read_exec_error(int fd, std::chrono::milliseconds limit) {
  int err = 0;
  size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (got < sizeof(err)) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Code::kDeadlineExceeded, "exec did not finish within {} ms", limit.count());
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return make_error(Code::kIo, "poll: {}", std::strerror(errno));
    if (rc <= 0) continue;
    ssize_t n = ::read(fd, reinterpret_cast<char*>(&err) + got, sizeof(err) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got == 0 ? 0 : EIO;
    got += static_cast<size_t>(n);
  }
  return err;
}

}  // namespace

Result<StartedChild> start_child(const ChildSpec& spec) {
  if (spec.exe.empty()) return make_error(Code::kInvalidArgument, "no executable given");
  THAW_ASSIGN_OR_RETURN(UniqueFd devnull, open_fd("/dev/null", O_RDONLY, "input"));
  THAW_ASSIGN_OR_RETURN(UniqueFd log, spec.log_path.empty()
                                          ? open_fd("/dev/null", O_WRONLY, "log")
                                          : open_fd(spec.log_path, O_WRONLY | O_CREAT | O_APPEND, "log"));
  struct stat st {};
  uint64_t log_offset = ::fstat(log.get(), &st) == 0 && S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
  int ready_pipe[2], error_pipe[2];
  if (::pipe2(ready_pipe, O_CLOEXEC) != 0) return make_error(Code::kIo, "pipe: {}", std::strerror(errno));
  UniqueFd ready_r(ready_pipe[0]), ready_w(ready_pipe[1]);
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) return make_error(Code::kIo, "pipe: {}", std::strerror(errno));
  UniqueFd error_r(error_pipe[0]), error_w(error_pipe[1]);
  THAW_TRY(move_high(ready_w, "ready pipe"));
  THAW_TRY(move_high(error_w, "exec pipe"));

  ExecPlan plan = make_plan(spec);
  pid_t pid = ::fork();
  if (pid < 0) return make_error(Code::kResourceExhausted, "fork: {}", std::strerror(errno));
  if (pid == 0) exec_child(plan, devnull.get(), log.get(), ready_w.get(), error_w.get());

  ready_w.reset();
  error_w.reset();
  auto err = read_exec_error(error_r.get(), std::chrono::seconds(30));
  if (!err.is_ok() || *err != 0) {
    kill_and_reap(pid, std::chrono::seconds(2));
    if (!err.is_ok()) return err.status().with_context("starting " + spec.exe);
    return make_error(*err == ENOENT ? Code::kNotFound : Code::kIo, "cannot execute {}: {}", spec.exe,
                      std::strerror(*err));
  }
  return StartedChild{pid, std::move(ready_r), log_offset};
}

bool reap_if_exited(pid_t pid, int* wait_status) {
  int status = 0;
  pid_t r;
  do r = ::waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid && wait_status != nullptr) *wait_status = status;
  return r == pid || (r < 0 && errno == ECHILD);
}

void kill_and_reap(pid_t pid, std::chrono::milliseconds limit) {
  if (pid <= 0 || reap_if_exited(pid)) return;
  ::kill(pid, SIGKILL);
  poll_until([pid] { return reap_if_exited(pid); }, limit);
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char* name = ::sigabbrev_np(sig);
    return fmt::format("killed by signal {}{}{}", sig, name ? " SIG" : "", name ? name : "");
  }
  return fmt::format("ended with wait status {}", wait_status);
}

std::string log_tail(const std::string& path, uint64_t offset, int max_lines) {
  if (path.empty()) return {};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return {};
  off_t end = st.st_size;
  off_t start = std::max<off_t>(static_cast<off_t>(offset), end - kTailBytes);
  if (start >= end) return {};
  std::string text(static_cast<size_t>(end - start), '\0');
  ssize_t n = ::pread(fd.get(), text.data(), text.size(), start);
  if (n <= 0) return {};
  text.resize(static_cast<size_t>(n));
  std::deque<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    lines.push_back(line);
    if (lines.size() > static_cast<size_t>(max_lines)) lines.pop_front();
  }
  std::string out;
  for (auto line : lines) {
    out += "\n  ";
    out += line;
  }
  return out;
}

Result<http::Endpoint> wait_ready(const StartedChild& child, const std::string& log_path,
                                  std::chrono::steady_clock::time_point deadline, std::string_view what) {
  auto fail = [&](Code code, std::string cause) -> Status {
    kill_and_reap(child.pid, std::chrono::seconds(2));
    std::string tail = log_tail(log_path, child.log_offset);
    std::string where = log_path.empty() ? "no log kept (log_path is empty)"
                        : tail.empty()   ? "its log " + log_path + " is empty"
                                         : "last lines of " + log_path + ":" + tail;
    return Status(code, fmt::format("{} (pid {}) {}; {}", what, child.pid, cause, where));
  };
  // "exited with status 1", or "" if it is still running after a short wait.
  auto exit_status = [&] {
    int status = 0;
    auto wait =
        std::min<std::chrono::steady_clock::duration>(deadline - std::chrono::steady_clock::now(), kExitWait);
    bool gone = poll_until([&] { return reap_if_exited(child.pid, &status); },
                           std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    return gone ? describe_wait_status(status) : std::string();
  };
  auto line = protocol::read_line(child.ready.get(), deadline);
  if (!line.is_ok()) {
    switch (line.status().code()) {
      case Code::kDeadlineExceeded:
        return fail(Code::kDeadlineExceeded, "was not ready in time and was killed");
      case Code::kCorrupt:
        return fail(Code::kCorrupt, "wrote an overlong ready line");
      case Code::kUnavailable: {  // end of file: usually the worker exited
        std::string exited = exit_status();
        return fail(Code::kUnavailable, exited.empty()
                                            ? "closed its ready pipe without reporting ready and was killed"
                                            : exited + " before it was ready");
      }
      default:
        return fail(line.status().code(), "ready pipe: " + line.status().message());
    }
  }
  auto report = protocol::parse_ready_report(*line);
  if (!report.is_ok()) return fail(report.status().code(), report.status().message());
  if (!report->ready) {
    std::string exited = exit_status();
    return fail(Code::kUnavailable,
                fmt::format("reported \"{}\" and {}", report->error, exited.empty() ? "was killed" : exited));
  }
  return std::move(report->endpoint);
}

}  // namespace thaw::manager
