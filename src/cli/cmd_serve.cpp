// `thaw serve`: the platform on one machine. A KServe v2 gateway in front of every model in
// ./models (or a thaw.yaml), scaling each between zero and its limit along the cold-start ladder.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "bundle/bundle.h"
#include "cli/commands.h"
#include "cli/serve_security.h"
#include "cli/serve_store.h"
#include "cli/write_file.h"
#include "common/clock.h"
#include "common/usable_cores.h"
#include "engine/registry.h"
#include "gateway/gateway.h"
#include "grpc/grpc_module.h"
#include "http/server.h"
#include "manager/fetching_launcher.h"
#include "manager/manager.h"
#include "manager/process_launcher.h"
#include "manager/serve_config.h"
#include "policy/policy_spec.h"
#include "worker/worker.h"

namespace thaw::cli {

namespace {
namespace fs = std::filesystem;

struct ServeFlags {
  std::string config;
  std::string models;
  std::string host;
  int port = -1;
  int grpc_port = -2;  // unset: the file's, else off
  int keda_scaler_port = -2;
  int threads = 0;
  int64_t memory_budget_mb = -1;
  std::string policy;
  std::string runtime_dir;
  std::string write_profile;
  int ready_fd = -1;
  int stop_grace_ms = 10'000;
  int drain_delay_ms = 0;
  std::string log_level = "info";
  bool strict = false;
  // Security (docs/security.md); each overrides its key under `security:` in thaw.yaml.
  std::string admin_token_file;
  std::string admin_listen;
  std::string access_log;
  std::string audit_log;
  std::string tls_cert, tls_key, tls_client_ca, tls_client_cert;
};

// A temporary runtime directory, removed with everything in it when the server stops.
struct RuntimeDir {
  std::string path;
  bool owned = false;
  ~RuntimeDir() {
    std::error_code ec;
    if (owned) fs::remove_all(path, ec);
  }
};

// Every connection is a descriptor: raise the soft limit to the hard one, and say so when even
// that is below what the configuration allows.
void raise_descriptor_limit(size_t max_connections) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + 256;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted)
    spdlog::warn("the descriptor limit is {} but server.max_connections is {}: raise `ulimit -n` or lower "
                 "max_connections, or connections beyond the limit will be refused", lim.rlim_cur, max_connections);
}

Result<manager::ServeConfig> build_config(const ServeFlags& f) {
  manager::ServeConfig c;
  std::string config_path = f.config;
  if (config_path.empty() && fs::exists("thaw.yaml")) config_path = "thaw.yaml";
  if (!config_path.empty()) {
    auto loaded = manager::load_serve_config(config_path);
    if (!loaded.is_ok()) return loaded.status();
    c = std::move(loaded).value();
  }
  if (!f.models.empty()) c.models_dir = f.models;
  if (!f.host.empty()) c.host = f.host;
  if (f.port >= 0) c.port = f.port;
  if (f.grpc_port >= -1) c.grpc_port = f.grpc_port;
  if (f.keda_scaler_port >= -1) c.keda_scaler_port = f.keda_scaler_port;
  if (f.threads > 0) c.threads = f.threads;
  if (f.memory_budget_mb >= 0) c.memory_budget_bytes = static_cast<uint64_t>(f.memory_budget_mb) << 20;
  if (!f.policy.empty()) c.policy = f.policy;
  if (!f.runtime_dir.empty()) c.runtime_dir = f.runtime_dir;
  auto& sec = c.security;
  for (auto [flag, key] : {std::pair{&f.admin_token_file, &sec.admin_token_file}, {&f.admin_listen, &sec.admin_listen},
                           {&f.access_log, &sec.access_log}, {&f.audit_log, &sec.audit_log},
                           {&f.tls_cert, &sec.tls_cert_file}, {&f.tls_key, &sec.tls_key_file},
                           {&f.tls_client_ca, &sec.tls_client_ca_file}, {&f.tls_client_cert, &sec.tls_client_cert}})
    if (!flag->empty()) *key = *flag;
  THAW_TRY(manager::add_models_from_dir(c));
  THAW_TRY(assign_store_paths(c));
  if (f.strict) c.strict = true;
  THAW_TRY(manager::validate(c));
  // A bad bundle is set aside, not fatal: the others are served (unless strict).
  THAW_TRY(manager::set_aside_bad_models(c, [](manager::ModelConfig& m) {
    std::error_code ec;
    if (!m.source.empty() && !fs::exists(m.bundle, ec)) return Status::ok();  // fetched (and checked) on first need
    auto reader = bundle::Reader::open(m.bundle);
    if (!reader.is_ok()) return reader.status();
    // A fetched model's version is its source's (the store's file name); a file's, its manifest's.
    if (m.source.empty() && !reader->manifest().version.empty()) m.version = reader->manifest().version;
    return Status::ok();
  }));
  for (const auto& r : c.refused)
    spdlog::error("model '{}' is not served: {}: {}; check it with `thaw verify {}`", r.name, r.bundle, r.error,
                  r.bundle);
  return c;
}

// The backend's load plan for the manager. A bundle no backend here runs gets its size; its
// instances then fail to start with an error that names the backend, and the other models serve.
manager::ModelLoadInfo load_info(const engine::Registry& backends, const std::string& bundle) {
  auto plan = backends.load_plan(bundle);
  if (plan.is_ok()) return {plan->start_bytes, plan->zygote_safe};
  spdlog::warn("{}: {}", bundle, plan.status().to_string());
  std::error_code ec;
  const uintmax_t size = fs::file_size(bundle, ec);
  return {ec ? 0 : static_cast<uint64_t>(size), true};
}

int serve(const ServeFlags& f, const engine::Registry& backends) {
  // Stdout carries the JSON events; human-readable logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("thaw"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  auto config = build_config(f);
  if (!config.is_ok()) {
    spdlog::error("{}", config.status().to_string());
    return 2;
  }
  manager::ServeConfig& c = *config;

  RuntimeDir runtime;
  if (c.runtime_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "thaw-serve-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      spdlog::error("cannot create a runtime directory under {}", fs::temp_directory_path().string());
      return 1;
    }
    runtime.path = tmpl;
    runtime.owned = true;
  } else {
    std::error_code ec;
    fs::create_directories(c.runtime_dir, ec);
    runtime.path = c.runtime_dir;
  }

  manager::ManagerOptions mo;
  std::error_code ec;
  mo.thaw_exe = fs::read_symlink("/proc/self/exe", ec).string();
  mo.runtime_dir = runtime.path;
  mo.memory_budget_bytes = c.memory_budget_bytes;
  mo.policy = c.policy;
  if (!c.profile.empty()) {
    auto profile = policy::load_rung_profile(c.profile);
    if (!profile.is_ok()) {
      spdlog::error("rung profile: {}", profile.status().to_string());
      return 2;
    }
    mo.profile = *profile;
  }
  mo.ping_interval = c.ping_interval;
  mo.tick_interval = c.tick_interval;
  mo.max_waiting = c.max_waiting;
  mo.batch_shed_fraction = c.batch_shed_fraction;
  mo.refused = c.refused;
  mo.load_info = [&backends](const manager::ModelConfig& m) { return load_info(backends, m.bundle); };

  // Threads started from here on inherit the blocked stop signals, and SIGHUP (reload) too.
  sigset_t stop_signals = worker::block_stop_signals();
  sigset_t wait_signals = stop_signals;
  sigaddset(&wait_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &wait_signals, nullptr);
  SteadyClock clock;
  auto security = build_serve_security(c.security, clock);
  if (!security.is_ok()) {
    spdlog::error("{}", security.status().to_string());
    return 2;
  }
  warn_if_exposed(c);
  // Models from a source: the model store, and a launcher that fetches into it (the registry rung).
  std::unique_ptr<manager::ModelStore> store;
  std::unique_ptr<manager::Launcher> launcher;
  if (has_sources(c)) {
    auto opened = open_model_store(c, clock, backends);
    if (!opened.is_ok()) {
      spdlog::error("model store: {}", opened.status().to_string());
      return 2;
    }
    store = std::move(opened).value();
    launcher = std::make_unique<manager::FetchingLauncher>(
        std::make_unique<manager::ProcessLauncher>(manager::ProcessLauncherOptions{mo.thaw_exe}), *store);
    mo.describe_store = [s = store.get()] { return s->describe(); };
    mo.register_source = source_registrar(*store, c);
    mo.load_info = [&backends, s = store.get()](const manager::ModelConfig& m) {
      if (s->knows(m.bundle) && !s->present(m.bundle)) return manager::ModelLoadInfo{s->size_of(m.bundle), true};
      return load_info(backends, m.bundle);
    };
  }
  auto manager = manager::Manager::create(mo, c.models, clock, std::move(launcher));
  if (!manager.is_ok()) {
    spdlog::error("{}", manager.status().to_string());
    return 2;
  }
  std::optional<StoreWarmup> warmup;
  if (store) warmup.emplace(*store, c);
  gateway::Gateway gateway(**manager, std::move(security->access));
  http::ServerOptions so;
  so.listen = http::Endpoint::tcp(c.host, static_cast<uint16_t>(c.port));
  // One event loop per thread, each connection pinned to one: no hand-off between threads per
  // request, and no handler ever blocks (waiting requests are state), so a few loops carry all.
  so.threads = c.threads > 0 ? c.threads : static_cast<int>(std::max(2u, usable_cores())) + 1;
  so.loop_per_thread = true;
  so.max_body_bytes = c.max_body_bytes;
  so.max_connections = c.max_connections;
  so.request_timeout = std::chrono::milliseconds(120'000);
  so.header_timeout = c.header_timeout;
  so.body_timeout = c.body_timeout;
  so.max_connections_per_client = c.max_connections_per_client;
  so.tls = security->tls;
  so.request_log = security->logs;
  raise_descriptor_limit(c.max_connections);
  const bool admin_apart = !c.security.admin_listen.empty();
  auto server = http::Server::listen(so, gateway.router(admin_apart ? gateway::Gateway::Routes::kPublic
                                                                    : gateway::Gateway::Routes::kAll));
  if (!server.is_ok()) {
    spdlog::error("cannot listen on {}:{}: {}", c.host, c.port, server.status().to_string());
    return 1;
  }
  // Admin routes on a listener of their own (a loopback port or a Unix socket only its owner may
  // use), as Triton's restricted APIs: one loop, plain HTTP, the same access rules.
  std::unique_ptr<http::Server> admin_server;
  if (admin_apart) {
    auto ep = http::Endpoint::parse(c.security.admin_listen);
    if (!ep.is_ok()) {
      spdlog::error("--admin-listen: {}", ep.status().to_string());
      return 2;
    }
    http::ServerOptions ao;
    ao.listen = *ep;
    ao.threads = 1;
    ao.max_connections = 64;
    ao.header_timeout = c.header_timeout;
    ao.body_timeout = c.body_timeout;
    ao.request_log = security->logs;
    ao.unix_socket_mode = 0600;
    auto admin = http::Server::listen(ao, gateway.router(gateway::Gateway::Routes::kAdmin));
    if (!admin.is_ok()) {
      spdlog::error("cannot listen for admin routes on {}: {}", c.security.admin_listen, admin.status().to_string());
      return 1;
    }
    admin_server = std::move(admin).value();
  }
  gateway.set_server(server->get());
  (*server)->start();
  std::unique_ptr<grpc_front::GrpcFront> grpc;
  if (c.grpc_port >= 0) {
    auto started = grpc_front::start_grpc({c.host, c.grpc_port, c.max_body_bytes}, **server);
    if (!started.is_ok()) {
      spdlog::error("{}", started.status().to_string());
      (*server)->stop(std::chrono::milliseconds(0));
      return 1;
    }
    grpc = std::move(started).value();
  }
  std::unique_ptr<grpc_front::GrpcFront> scaler;
  if (c.keda_scaler_port >= 0) {
    manager::Manager& mgr = **manager;
    grpc_front::DemandSource source{
        [&mgr](const std::string& model) { return mgr.demand(model); },
        [&mgr](manager::DemandListener l) { return mgr.demand_hub().subscribe(std::move(l)); },
        [&mgr](uint64_t id) { mgr.demand_hub().unsubscribe(id); }};
    auto started = grpc_front::start_keda_scaler({c.host, c.keda_scaler_port, 1 << 20}, std::move(source));
    if (!started.is_ok()) {
      spdlog::error("{}", started.status().to_string());
      if (grpc) grpc->stop(std::chrono::milliseconds(0));
      (*server)->stop(std::chrono::milliseconds(0));
      return 1;
    }
    scaler = std::move(started).value();
  }
  if (admin_server) admin_server->start();
  const auto& ep = (*server)->endpoint();
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : c.models) models.push_back({{"name", m.name}, {"bundle", m.bundle}});
  nlohmann::json refused = nlohmann::json::array();
  for (const auto& r : c.refused) refused.push_back({{"name", r.name}, {"bundle", r.bundle}, {"error", r.error}});
  nlohmann::json serving = {{"event", "serving"}, {"endpoint", ep.to_string()}, {"port", ep.port},
                            {"models", models}, {"refused", refused}, {"policy", c.policy},
                            {"runtime_dir", runtime.path}, {"tls", so.tls != nullptr}};
  if (grpc) serving["grpc_port"] = grpc->port();
  if (scaler) serving["keda_scaler_port"] = scaler->port();
  if (admin_server) {
    serving["admin_endpoint"] = admin_server->endpoint().to_string();
    serving["admin_port"] = admin_server->endpoint().port;
  }
  worker::emit(stdout, serving);
  spdlog::info("serving {} model(s) on {}://{}{} (policy {}, memory budget {})", c.models.size(),
               so.tls ? "https" : "http", ep.to_string(),
               (grpc ? fmt::format(" and gRPC port {}", grpc->port()) : "") +
                   (scaler ? fmt::format(", KEDA scaler on port {}", scaler->port()) : ""),
               c.policy, c.memory_budget_bytes ? fmt::format("{} MiB", c.memory_budget_bytes >> 20) : "none");
  if (admin_server) spdlog::info("admin routes on {} only", admin_server->endpoint().to_string());
  if (f.ready_fd >= 0) {
    std::string line = "ready " + ep.to_string() + "\n";
    (void)!::write(f.ready_fd, line.data(), line.size());
    ::close(f.ready_fd);
  }
  int signal = 0;
  const std::string config_path = !f.config.empty() ? f.config : fs::exists("thaw.yaml") ? "thaw.yaml" : "";
  while ((signal = worker::wait_for_stop_signal(wait_signals)) == SIGHUP) {
    reload_serve_security(*security);
    if (store && !config_path.empty()) reload_sources(config_path, **manager);
  }
  // Readiness turns false first; with a drain delay the server keeps taking requests meanwhile, so
  // those a load balancer sends before it has seen the probe fail are still answered.
  gateway.set_draining();
  worker::emit(stdout, {{"event", "draining"}, {"signal", signal}, {"drain_delay_ms", f.drain_delay_ms}});
  if (f.drain_delay_ms > 0) {
    spdlog::info("signal {}: not ready; still serving for {} ms (--drain-delay-ms), then finishing requests in "
                 "flight", signal, f.drain_delay_ms);
    if (int again = worker::wait_for_stop_signal_for(wait_signals, std::chrono::milliseconds(f.drain_delay_ms)))
      spdlog::info("signal {}: drain delay cut short", again);
  }
  spdlog::info("signal {}: finishing requests in flight, then stopping instances", signal);
  // gRPC first: its calls in flight are answered through the HTTP server's loops.
  if (grpc) grpc->stop(std::chrono::milliseconds(f.stop_grace_ms));
  // The scaler's calls never wait on requests; it goes before the manager it asks. Its streams end
  // once their latest answer is written; a client that stopped reading gets a second.
  if (scaler) scaler->stop(std::chrono::milliseconds(1000));
  if (admin_server) admin_server->stop(std::chrono::milliseconds(0));
  (*server)->stop(std::chrono::milliseconds(f.stop_grace_ms));
  gateway.close_upstreams();
  (*manager)->shutdown(std::chrono::milliseconds(f.stop_grace_ms));
  int rc = 0;
  if (!f.write_profile.empty()) {
    Status written = write_file(f.write_profile, (*manager)->profile_yaml());
    if (!written.is_ok()) {
      spdlog::error("--write-profile: {}", written.to_string());
      rc = 1;
    }
  }
  worker::emit(stdout, {{"event", "stopped"}, {"signal", signal}});
  return rc;
}

}  // namespace

void register_serve(CLI::App& app, int* exit_code, const engine::Registry& backends) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the platform: a scale-to-zero KServe v2 gateway for every model");
  cmd->footer(
      "Serves every *.thaw in --models (default ./models) under its file name, or the models of a\n"
      "thaw.yaml (--config; ./thaw.yaml is read when present). Flags override the file.\n"
      "Each model climbs the cold-start ladder (disk, page cache, zygote, warm instances) on demand and\n"
      "falls back down after the policy's keep-alive. Requests carry X-Latency-Tier: premium, standard\n"
      "(default) or batch. Admin: GET /admin/models, GET /admin/profile (the rung costs measured),\n"
      "POST /admin/models/{m}/prewarm|drain, POST /admin/models/{m}/versions {\"source\": URL[, \"canary_percent\": P]} (a new version, no spike).\n"
      "Stdout: one JSON line per event ({\"event\":\"serving\",\"port\":N,...}); logs go to stderr.\n"
      "SIGTERM/SIGINT: readiness turns false (and serving goes on for --drain-delay-ms), then stop accepting,\n"
      "finish requests in flight (up to --stop-grace-ms), stop every instance, exit 0.\n"
      "--grpc-port adds the same API over gRPC (inference.GRPCInferenceService); metadata\n"
      "x-latency-tier picks the tier; authorization and x-api-key metadata authenticate.\n"
      "--keda-scaler-port serves KEDA's external scaler (externalscaler.ExternalScaler) for the\n"
      "`external-push` trigger: metadata `model` names the model, `targetDemand` the requests per\n"
      "replica (default: its concurrency); the metric thaw-<model>-demand is waiting + in flight.\n"
      "SIGHUP: reload the TLS certificate and key, reopen the access and audit logs, publish changed model sources.\n"
      "Security (docs/security.md): with --admin-token-file, admin and repository routes need\n"
      "\"Authorization: Bearer <token>\"; API keys for inference, allowed origins and more are set\n"
      "under `security:` in thaw.yaml.\n"
      "Example: thaw serve --models ./models --port 8000\n"
      "         curl -X POST localhost:8000/v2/models/minilm/infer -d @request.json");
  cmd->add_option("--config", flags->config, "thaw.yaml to read (every key has a default)");
  cmd->add_option("--models", flags->models, "Directory of .thaw bundles to serve (default ./models)");
  cmd->add_option("--host", flags->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", flags->port, "TCP port (default 8000; 0 picks a free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port", flags->grpc_port,
                  "Also serve the KServe v2 / Triton gRPC inference service on this port (0 picks a free one; "
                  "default: off)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--keda-scaler-port", flags->keda_scaler_port,
                  "Serve KEDA's external scaler (gRPC) on this port, reported as keda_scaler_port in the serving "
                  "event (0 picks a free one; default: off)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--threads", flags->threads, "HTTP event loops, one thread each (default: cores + 1)")
      ->check(CLI::Range(2, 1024));
  cmd->add_option("--memory-budget-mb", flags->memory_budget_mb,
                  "PSS budget for all instances and zygotes; over it, idle models are demoted (0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--policy", flags->policy, "Keep-alive policy (default fixed10):\n" + policy::policy_help());
  cmd->add_option("--runtime-dir", flags->runtime_dir,
                  "Where worker sockets and logs go (default: a temporary directory, removed at exit)");
  cmd->add_option("--write-profile", flags->write_profile,
                  "On exit, write the rung costs measured while serving as a profile (`thaw sim --profile` "
                  "reads it; GET /admin/profile shows it meanwhile)");
  cmd->add_option("--ready-fd", flags->ready_fd, "Write \"ready <endpoint>\\n\" to this fd once serving, then close it")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--stop-grace-ms", flags->stop_grace_ms, "On SIGTERM, wait this long for requests in flight")
      ->check(CLI::Range(0, 600'000))->capture_default_str();
  cmd->add_option("--drain-delay-ms", flags->drain_delay_ms,
                  "On SIGTERM, first report not ready (/v2/health/ready 503) while still serving for this long, so "
                  "load balancers stop sending before the listener closes (a second signal cuts it short)")
      ->check(CLI::Range(0, 600'000))->capture_default_str();
  cmd->add_flag("--strict", flags->strict,
                "Refuse to start (exit 2) when any bundle is bad; without it the good models are served and the "
                "bad ones listed under \"refused\" in /admin/models and the log (thaw.yaml: server.strict)");
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  cmd->add_option("--admin-token-file", flags->admin_token_file,
                  "File whose first line is the admin token (mode 600): admin and repository routes then need "
                  "\"Authorization: Bearer <token>\"");
  cmd->add_option("--admin-listen", flags->admin_listen,
                  "Serve admin and repository routes only here (HOST:PORT or unix:PATH), not on --port");
  cmd->add_option("--access-log", flags->access_log, "Append a line per request here (\"-\": stderr)");
  cmd->add_option("--audit-log", flags->audit_log, "Append a JSON line per admin action here (\"-\": stderr)");
  cmd->add_option("--tls-cert", flags->tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  cmd->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--tls-client-ca", flags->tls_client_ca, "PEM CAs that client certificates must chain to");
  cmd->add_option("--tls-client-cert", flags->tls_client_cert, "Client certificates: none, optional or require")
      ->check(CLI::IsMember({"none", "optional", "require"}));
  cmd->callback([flags, exit_code, &backends] { *exit_code = serve(*flags, backends); });
}

}  // namespace thaw::cli
