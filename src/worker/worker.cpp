#include "worker/worker.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include <nlohmann/json.hpp>

#include "grpc/grpc_module.h"
#include "http/prometheus.h"
#include "protocol/worker_protocol.h"
#include "worker/routes.h"

namespace thaw::worker {
namespace {
using json = nlohmann::json;
namespace event = protocol::event;
}  // namespace

int load_failure_exit_code(const Status& s) { return s.code() == Code::kCorrupt ? 3 : 1; }

void emit(std::FILE* out, const json& event) {
  if (out == nullptr) return;
  std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

void emit_error(std::FILE* out, std::string_view stage, const Status& s) {
  emit(out, {{"event", event::kError}, {"stage", stage}, {"error", s.to_string()}});
  std::fprintf(stderr, "thaw run: %s: %s\n", std::string(stage).c_str(), s.to_string().c_str());
}

void report_start_failure(std::FILE* out, ReadyDescriptor& ready, std::string_view stage, const Status& s) {
  emit_error(out, stage, s);
  ready.error(fmt::format("{}: {}", stage, s.to_string()));
}

bool accept_supervisor(const WorkerOptions& options, std::FILE* out, ReadyDescriptor& ready) {
  const auto& announced = options.supervisor_versions;
  auto version = protocol::choose_version(announced ? announced->c_str() : nullptr);
  if (!version.is_ok()) report_start_failure(out, ready, "protocol", version.status());
  return version.is_ok();
}

sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

int wait_for_stop_signal(const sigset_t& signals) {
  int signal = 0;
  while (signal <= 0) {
    timespec tick{1, 0};
    signal = sigtimedwait(&signals, nullptr, &tick);
  }
  return signal;
}

int wait_for_stop_signal_for(const sigset_t& signals, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0)) return 0;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec wait{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    const int signal = sigtimedwait(&signals, nullptr, &wait);
    if (signal > 0) return signal;
  }
}

int pending_stop_signal(const sigset_t& signals) {
  timespec none{0, 0};
  int signal = sigtimedwait(&signals, nullptr, &none);
  return signal > 0 ? signal : 0;
}

int debug_start_delay(const WorkerOptions& options, const sigset_t& signals) {
  if (options.debug_start_delay.count() <= 0) return 0;
  std::fprintf(stderr, "thaw run: delaying the start by %lld ms (--debug-start-delay-ms, a test option)\n",
               static_cast<long long>(options.debug_start_delay.count()));
  const auto end = std::chrono::steady_clock::now() + options.debug_start_delay;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    timespec ts{static_cast<time_t>(left.count() / 1'000'000'000), static_cast<long>(left.count() % 1'000'000'000)};
    int signal = sigtimedwait(&signals, nullptr, &ts);
    if (signal > 0) return signal;
  }
}

std::string render_metrics(const ModelService& service, const http::Server* server,
                           const ColdStartTimeline& timeline) {
  http::PrometheusText out;
  service.write_metrics(out);
  out.family("thaw_cold_start_phase_seconds", "gauge",
             "Duration of each start-up phase, each measured from the end of the previous one.");
  for (const auto& [phase, seconds] : timeline.phase_seconds())
    out.sample("thaw_cold_start_phase_seconds", {{"phase", phase}}, seconds);
  if (auto r = timeline.seconds_since_exec("ready")) {
    out.family("thaw_exec_to_ready_seconds", "gauge", "From exec() to reporting ready.");
    out.sample("thaw_exec_to_ready_seconds", {}, *r);
  }
  if (auto r = timeline.seconds_since_exec("first_request")) {
    out.family("thaw_exec_to_first_response_seconds", "gauge", "From exec() to the first inference answered.");
    out.sample("thaw_exec_to_first_response_seconds", {}, *r);
  }
  if (server != nullptr) {
    http::ServerStats st = server->stats();
    auto counter = [&](const char* name, const char* help, uint64_t v) {
      out.family(name, "counter", help);
      out.sample(name, {}, static_cast<double>(v));
    };
    counter("thaw_http_connections_accepted_total", "Connections accepted.", st.connections_accepted);
    counter("thaw_http_connections_rejected_total", "Connections refused over the connection cap.",
            st.connections_rejected);
    counter("thaw_http_requests_total", "HTTP requests routed.", st.requests);
    counter("thaw_http_bad_requests_total", "Unparseable or oversize HTTP requests.", st.bad_requests);
    counter("thaw_http_timeouts_total", "Connections cut off mid-request or mid-response.", st.timeouts);
    out.family("thaw_http_connections_active", "gauge", "Open connections.");
    out.sample("thaw_http_connections_active", {}, static_cast<double>(st.connections_active));
  }
  return out.text();
}

int run_worker(const WorkerOptions& options, const ModelLoader& loader, ColdStartTimeline& timeline,
               std::FILE* events) {
  // Threads started from here on inherit the mask, so the signals reach sigtimedwait() below.
  sigset_t stop_signals = block_stop_signals();
  ReadyDescriptor ready(options.ready_fd);
  if (!accept_supervisor(options, events, ready)) return 1;

  auto model = loader(options.bundle_path, timeline);
  if (!model.is_ok()) {
    report_start_failure(events, ready, "load", model.status());
    return load_failure_exit_code(model.status());
  }
  SteadyClock steady;
  ModelService service(std::move(model).value(), options.service, steady, &timeline);

  std::atomic<const http::Server*> server_ptr{nullptr};
  RouteContext ctx;
  ctx.service = &service;
  ctx.metrics = [&] { return render_metrics(service, server_ptr.load(), timeline); };
  auto server = http::Server::listen(options.server, make_router(ctx));
  if (!server.is_ok()) {
    report_start_failure(events, ready, "listen", server.status());
    return 1;
  }
  server_ptr = server->get();
  const http::Endpoint& ep = (*server)->endpoint();
  service.on_first_response([&] {
    emit(events,
         {{"event", event::kFirstResponse}, {"model", service.name()}, {"timeline", timeline.to_json()}});
  });
  (*server)->start();
  std::unique_ptr<grpc_front::GrpcFront> grpc;
  if (options.grpc_port >= 0) {
    const std::string host = ep.is_unix() ? "127.0.0.1" : ep.host;
    auto started = grpc_front::start_grpc({host, options.grpc_port, options.server.max_body_bytes}, **server);
    if (!started.is_ok()) {
      report_start_failure(events, ready, "listen", started.status());
      (*server)->stop(std::chrono::milliseconds(0));
      return 1;
    }
    grpc = std::move(started).value();
  }
  timeline.mark("listening");
  nlohmann::json listening = {{"event", event::kListening}, {"endpoint", ep.to_string()}, {"port", ep.port},
                              {"model", service.name()}};
  if (grpc) listening["grpc_port"] = grpc->port();
  emit(events, listening);

  int signal = debug_start_delay(options, stop_signals);
  if (options.debug_start_delay.count() > 0) timeline.mark("debug_start_delay");
  const int passes = options.warmup_passes >= 0 ? options.warmup_passes : service.generator() ? 0 : 1;
  if (signal == 0 && passes > 0) {
    Status warm = service.warm_up(passes);
    if (!warm.is_ok()) {
      report_start_failure(events, ready, "warm-up", warm);
      (*server)->stop(std::chrono::milliseconds(0));
      return 1;
    }
  }
  // A stop asked for during the start ends it here, before anyone is told it is ready.
  if (signal == 0) signal = pending_stop_signal(stop_signals);
  if (signal == 0) {
    timeline.mark("warmup");
    service.set_ready(true);
    timeline.mark("ready");
    emit(events, {{"event", event::kReady},
                  {"endpoint", ep.to_string()},
                  {"port", ep.port},
                  {"model", service.name()},
                  {"version", service.version()},
                  {"pid", ::getpid()},
                  {"protocol", protocol::kVersion},
                  {"timeline", timeline.to_json()}});
    ready.ready(ep);
    signal = wait_for_stop_signal(stop_signals);
  }
  service.begin_stop();
  // gRPC first: its calls in flight are answered through the HTTP server's loops.
  if (grpc) grpc->stop(options.stop_grace);
  (*server)->stop(options.stop_grace);
  emit(events, {{"event", event::kStopped}, {"signal", signal}});
  return 0;
}

}  // namespace thaw::worker
