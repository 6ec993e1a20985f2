#include "worker/zygote.h"

#include <algorithm>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "protocol/line_io.h"
#include "protocol/worker_protocol.h"
#include "worker/routes.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;
namespace event = protocol::event;
// A reply is one short line into an idle socket; the bound only guards against a stalled reader.
constexpr std::chrono::seconds kReplyLimit{5};

Result<UniqueFd> listen_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return make_error(Code::kInvalidArgument, "control socket path '{}' is too long", path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return make_error(Code::kInvalidArgument, "{} exists and is not a socket", path);
    ::unlink(path.c_str());
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(Code::kIo, "socket: {}", std::strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd.get(), 64) != 0)
    return make_error(Code::kIo, "listening on {}: {}", path, std::strerror(errno));
  return fd;
}

// Returns false when the line could not be delivered (the requester hung up).
bool reply(int fd, const std::string& line) {
  return protocol::write_line(fd, line, std::chrono::steady_clock::now() + kReplyLimit).is_ok();
}

// The forked child: serve `service` on `endpoint` until SIGTERM, then leave without running the
// template's destructors (they own state shared with the template). It gets SIGTERM when the
// template dies, and exits at once if whoever asked for it has gone before it was ready.
[[noreturn]] void child_main(ModelService& service, WorkerOptions options, http::Endpoint endpoint,
                             UniqueFd control, std::FILE* events, const sigset_t& stop_signals,
                             pid_t template_pid) {
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != template_pid) ::_exit(1);
  options.ready_fd = -1;  // the template closed it before forking; the number may be reused
  SteadyClock clock;
  Nanos forked = clock.now();
  options.server.listen = endpoint;
  std::atomic<const http::Server*> server_ptr{nullptr};
  ColdStartTimeline child_timeline(clock, ExecTime{forked, ExecTimeSource::kEnv});
  RouteContext ctx;
  ctx.service = &service;
  ctx.metrics = [&] { return render_metrics(service, server_ptr.load(), child_timeline); };
  auto server = http::Server::listen(options.server, make_router(ctx));
  if (!server.is_ok()) {
    reply(control.get(), protocol::format_error(server.status().to_string()));
    emit_error(events, "fork", server.status());
    std::fflush(nullptr);
    ::_exit(1);
  }
  server_ptr = server->get();
  (*server)->start();
  child_timeline.mark("listening");
  const http::Endpoint& ep = (*server)->endpoint();
  double fork_to_ready_ms = to_ms(clock.now() - forked);
  if (!reply(control.get(), protocol::format_forked(::getpid(), ep))) {
    emit(events, {{"event", event::kAbandoned}, {"pid", ::getpid()}, {"endpoint", ep.to_string()}});
    (*server)->stop(std::chrono::milliseconds(0));
    std::fflush(nullptr);
    ::_exit(1);
  }
  control.reset();
  emit(events, {{"event", event::kReady},
                {"forked", true},
                {"endpoint", ep.to_string()},
                {"port", ep.port},
                {"model", service.name()},
                {"version", service.version()},
                {"pid", ::getpid()},
                {"fork_to_ready_ms", fork_to_ready_ms}});
  int signal = wait_for_stop_signal(stop_signals);
  service.begin_stop();
  (*server)->stop(options.stop_grace);
  emit(events, {{"event", event::kStopped}, {"signal", signal}, {"pid", ::getpid()}});
  std::fflush(nullptr);
  ::_exit(0);
}

void reap(std::set<pid_t>& children, std::FILE* events) {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (children.erase(pid) > 0)
      emit(events, {{"event", event::kChildExited},
                    {"pid", pid},
                    {"status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)}});
  }
}

void stop_children(std::set<pid_t>& children, std::FILE* events) {
  for (pid_t pid : children) ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!children.empty() && std::chrono::steady_clock::now() < deadline) {
    reap(children, events);
    if (!children.empty()) ::usleep(10'000);
  }
  for (pid_t pid : children) ::kill(pid, SIGKILL);
  while (!children.empty()) {
    pid_t pid = ::waitpid(-1, nullptr, 0);
    if (pid < 0) break;
    children.erase(pid);
  }
}

}  // namespace

int run_zygote(const WorkerOptions& options, const ModelLoader& loader, ColdStartTimeline& timeline,
               const std::string& control_path, std::FILE* events) {
  sigset_t stop_signals = block_stop_signals();
  ReadyDescriptor ready(options.ready_fd);
  if (!accept_supervisor(options, events, ready)) return 1;
  if (int signal = debug_start_delay(options, stop_signals); signal > 0) {
    emit(events, {{"event", event::kStopped}, {"signal", signal}});
    return 0;
  }
  auto model = loader(options.bundle_path, timeline);
  if (!model.is_ok()) {
    report_start_failure(events, ready, "load", model.status());
    return load_failure_exit_code(model.status());
  }
  SteadyClock steady;
  ModelService service(std::move(model).value(), options.service, steady, nullptr);
  if (options.warmup_passes != 0) {
    if (Status warm = service.warm_up(std::max(1, options.warmup_passes)); !warm.is_ok()) {
      report_start_failure(events, ready, "warm-up", warm);
      return 1;
    }
  }
  timeline.mark("warmup");
  // A stop asked for during the start ends it here, before anyone is told it is ready.
  if (int signal = pending_stop_signal(stop_signals); signal > 0) {
    emit(events, {{"event", event::kStopped}, {"signal", signal}});
    return 0;
  }
  service.set_ready(true);
  auto control = listen_unix(control_path);
  if (!control.is_ok()) {
    report_start_failure(events, ready, "listen", control.status());
    return 1;
  }
  timeline.mark("ready");
  emit(events, {{"event", event::kZygoteReady},
                {"control", control_path},
                {"model", service.name()},
                {"pid", ::getpid()},
                {"protocol", protocol::kVersion},
                {"timeline", timeline.to_json()}});
  // Closed before the first fork, so no child holds the supervisor's ready pipe open.
  ready.ready(http::Endpoint::unix_socket(control_path));
  const pid_t template_pid = ::getpid();

  std::set<pid_t> children;
  int signal = 0;
  while (signal <= 0) {
    signal = pending_stop_signal(stop_signals);
    if (signal > 0) break;
    reap(children, events);
    pollfd p{control->get(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    UniqueFd conn(::accept4(control->get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    auto command =
        protocol::read_line(conn.get(), std::chrono::steady_clock::now() + protocol::kCommandTimeout);
    auto endpoint = command.is_ok()
                        ? protocol::parse_fork(*command)
                        : Result<http::Endpoint>(command.status().with_context("reading the command"));
    if (!endpoint.is_ok()) {
      reply(conn.get(), protocol::format_error(endpoint.status().message()));
      continue;
    }
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
      reply(conn.get(), protocol::format_error(std::string("fork: ") + std::strerror(errno)));
      continue;
    }
    if (pid == 0) {
      control->reset();
      child_main(service, options, *endpoint, std::move(conn), events, stop_signals, template_pid);
    }
    children.insert(pid);
    emit(events, {{"event", event::kForked}, {"pid", pid}});
  }
  stop_children(children, events);
  control->reset();
  ::unlink(control_path.c_str());
  emit(events, {{"event", event::kStopped}, {"signal", signal}});
  return 0;
}

}  // namespace thaw::worker
