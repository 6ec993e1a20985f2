// `thaw run BUNDLE`: one worker serving one bundle over the Open Inference Protocol.
#include <cstdlib>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "bundle/verified_cache.h"
#include "cli/backend_opts.h"
#include "cli/commands.h"
#include "cli/run_external.h"
#include "engine/registry.h"
#include "protocol/worker_protocol.h"
#include "worker/bundle_model.h"
#include "worker/cold_start.h"
#include "worker/work_limits.h"
#include "worker/worker.h"
#include "worker/zygote.h"

namespace thaw::cli {

namespace {
struct RunFlags {
  std::string bundle;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string unix_path;
  int warmup = -1;
  uint64_t max_body = 64 << 20;
  size_t max_header = 16 << 10;
  int request_timeout_ms = 10'000;
  int idle_timeout_ms = 60'000;
  size_t max_connections = 1024;
  int threads = 1;
  int ready_fd = -1;
  int grpc_port = -1;
  size_t max_tokens = 0;
  worker::DecodeLimits decode;
  worker::WorkLimits work;
  int stop_grace_ms = 10'000;
  std::string zygote;
  std::string model_name;
  BackendOptItems backend_opts;
  int debug_start_delay_ms = 0;
  std::string verify = "first";
  std::string verify_cache = bundle::VerifiedCache::default_dir();
};
}  // namespace

void register_run(CLI::App& app, int* exit_code, const engine::Registry& backends) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Serve one .thaw bundle over the Open Inference Protocol (KServe v2)");
  cmd->footer(
      "Endpoints: /v2, /v2/health/{live,ready}, /v2/models/{m}[/versions/{v}][/ready|/config|/infer],\n"
      "/v2/repository/index, /warm, /metrics. Start-up: load, listen (live), warm up, ready.\n"
      "Speaks the worker protocol, version 1 (docs/worker-protocol.md): stdout carries one JSON line per\n"
      "event; --ready-fd N gets \"ready v1 <endpoint>\" (or \"error <message>\"). A supervisor exports\n"
      "THAW_WORKER_PROTOCOL (the versions it speaks) and THAW_EXEC_BOOTTIME_NS (CLOCK_BOOTTIME ns before\n"
      "exec). SIGTERM/SIGINT: finish requests in flight, then exit 0.\n"
      "A bundle whose backend runs in a worker of its own (a Python handler, thaw pack --python) is served by\n"
      "that worker, which thaw run execs in its place with these same arguments (docs/python.md).");
  cmd->add_option("bundle", flags->bundle, "The .thaw bundle to serve")->required();
  using protocol::kFlagHost, protocol::kFlagModelName, protocol::kFlagPort, protocol::kFlagReadyFd,
      protocol::kFlagUnix, protocol::kFlagZygote;
  cmd->add_option(std::string(kFlagHost), flags->host, "TCP address to listen on")->capture_default_str();
  cmd->add_option(std::string(kFlagPort), flags->port,
                  "TCP port; 0 picks a free one (reported in the ready line)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option(std::string(kFlagUnix), flags->unix_path, "Listen on this Unix socket path instead of TCP");
  cmd->add_option("--grpc-port", flags->grpc_port,
                  "Also serve the KServe v2 / Triton gRPC inference service on this TCP port (0 picks a free "
                  "one, reported as grpc_port in the listening event; default: off)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--warmup", flags->warmup,
                  "Passes over the bundle's warm-up inputs before ready (0: none; default: 1, except for a "
                  "generative model in a fresh process, where the waiting request does that work; a "
                  "--zygote template always warms up)")
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--max-body", flags->max_body, "Largest request body in bytes; larger gets 413")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))->capture_default_str();
  cmd->add_option("--max-header", flags->max_header, "Largest request header in bytes; larger gets 431")
      ->check(CLI::Range(size_t{256}, size_t{1} << 20))->capture_default_str();
  cmd->add_option("--request-timeout-ms", flags->request_timeout_ms,
                  "A request must arrive completely within this (slow clients are cut off)")
      ->check(CLI::Range(1, 3'600'000))->capture_default_str();
  cmd->add_option("--idle-timeout-ms", flags->idle_timeout_ms, "Close keep-alive connections idle this long")
      ->check(CLI::Range(1, 86'400'000))->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections, "Open connections beyond this get 503")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))->capture_default_str();
  cmd->add_option("--threads", flags->threads, "HTTP threads (each runs inferences)")
      ->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option(
         std::string(kFlagReadyFd), flags->ready_fd,
         "Write \"ready v1 <endpoint>\" (or \"error <message>\") to this fd when ready, then close it "
         "(with --zygote: \"ready v1 unix:<control path>\" when ready to fork)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--max-tokens", flags->max_tokens,
                  "Truncate text inputs to this many tokens (default: the bundle's, else 512)");
  // Bounds on one request's work (docs/limits.md); a thaw.yaml model sets them in worker_args.
  cmd->add_option("--max-batch", flags->work.max_batch,
                  "Largest first dimension of any input (texts in a text input); larger gets 413")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24))->capture_default_str();
  cmd->add_option("--max-request-tokens", flags->work.max_request_tokens,
                  "Most tokens (batch x padded sequence) one request may run through a token model; more gets 413")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32))->capture_default_str();
  cmd->add_option("--max-attention-cells", flags->work.max_attention_cells,
                  "Most batch x sequence^2 (a transformer's attention grows with the square of the sequence) one "
                  "request may run through a token model; more gets 413")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))->capture_default_str();
  cmd->add_option("--max-positions", flags->work.max_positions,
                  "Longest token sequence the model holds; longer gets 400 (default: the bundle's "
                  "max_positions metadata, else 512 or --max-tokens if larger)");
  cmd->add_option("--max-response-bytes", flags->work.max_response_bytes,
                  "Largest answer (counted at its longest JSON encoding); larger gets 413 before it is built")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40))->capture_default_str();
  cmd->add_option("--max-json-depth", flags->decode.json.max_depth,
                  "Deepest nesting of arrays and objects anywhere in a request's JSON; deeper gets 400")
      ->check(CLI::Range(size_t{2}, size_t{10'000}))->capture_default_str();
  cmd->add_option("--max-json-values", flags->decode.json.max_values,
                  "Most JSON values (numbers, strings, arrays, objects) in a request, parameters included; more gets 413")
      ->check(CLI::Range(uint64_t{16}, uint64_t{1} << 32))->capture_default_str();
  cmd->add_option("--max-inputs", flags->decode.max_inputs, "Most input tensors (and entries in \"outputs\") in a request; more gets 413")
      ->check(CLI::Range(size_t{1}, size_t{1} << 16))->capture_default_str();
  cmd->add_option("--verify", flags->verify,
                  "Check every byte of the bundle (as `thaw verify` does) before the first answer: on the first "
                  "start of the file (first; remembered by device, inode, size and mtime), on every start "
                  "(always) or never. The check runs beside the load; a bundle that fails exits 3")
      ->check(CLI::IsMember({"first", "always", "never"}))->capture_default_str();
  cmd->add_option("--verify-cache", flags->verify_cache,
                  "Where --verify first remembers the files that passed (default $THAW_VERIFY_CACHE, else "
                  "$XDG_CACHE_HOME/thaw/verified, else ~/.cache/thaw/verified)");
  cmd->add_option("--stop-grace-ms", flags->stop_grace_ms, "On SIGTERM, wait this long for requests in flight")
      ->check(CLI::Range(0, 600'000))->capture_default_str();

  add_backend_opts(cmd, backends, BackendOptKind::kCreate, &flags->backend_opts);
  cmd->add_option(
         "--debug-start-delay-ms", flags->debug_start_delay_ms,
         "Test option: stay live but not ready this much longer (after listening; with --zygote, before "
         "loading), to watch the 503 window and hold requests behind a slow cold start in tests and "
         "benchmarks; a model's worker_args may carry it")
      ->check(CLI::Range(0, 3'600'000));
  cmd->add_option(std::string(kFlagModelName), flags->model_name,
                  "Serve the model under this name instead of the one in the bundle's manifest");
  cmd->add_option(std::string(kFlagZygote), flags->zygote,
                  "Zygote mode: load and warm up once, then fork a ready worker per \"fork [ENDPOINT]\\n\" "
                  "line sent to this Unix control socket (the child answers \"ready <pid> <endpoint>\")");

  cmd->callback([flags, exit_code, &backends] {
    // A model served by a worker of its own (a Python handler): that worker takes this process's place.
    if (exec_external_worker(backends, flags->bundle, flags->backend_opts.all(), flags->ready_fd, exit_code)) return;
    worker::BootClock boot;
    worker::ColdStartTimeline timeline(boot, worker::find_exec_time(std::getenv(protocol::kExecTimeEnv)));
    timeline.mark("main");

    worker::give_large_blocks_back_when_freed();
    worker::WorkerOptions o;
    o.bundle_path = flags->bundle;
    o.server.listen = flags->unix_path.empty()
                          ? http::Endpoint::tcp(flags->host, static_cast<uint16_t>(flags->port))
                          : http::Endpoint::unix_socket(flags->unix_path);
    o.server.max_body_bytes = flags->max_body;
    o.service.max_decoded_body = flags->max_body;
    o.service.limits = flags->decode;
    o.service.limits.max_outputs = flags->decode.max_inputs;
    o.service.work = flags->work;
    o.server.max_header_bytes = flags->max_header;
    o.server.request_timeout = std::chrono::milliseconds(flags->request_timeout_ms);
    o.server.idle_timeout = std::chrono::milliseconds(flags->idle_timeout_ms);
    o.server.max_connections = flags->max_connections;
    o.server.threads = flags->threads;
    o.warmup_passes = flags->warmup;
    o.ready_fd = flags->ready_fd;
    o.grpc_port = flags->grpc_port;
    if (o.grpc_port >= 0 && !flags->zygote.empty()) {
      std::fprintf(stderr, "error: --grpc-port serves a worker's own clients; a zygote's forks are reached by their "
                           "supervisor over HTTP. Drop one of --grpc-port and --zygote.\n");
      *exit_code = 2;
      return;
    }
    if (const char* v = std::getenv(protocol::kVersionEnv)) o.supervisor_versions = v;
    o.stop_grace = std::chrono::milliseconds(flags->stop_grace_ms);
    o.debug_start_delay = std::chrono::milliseconds(flags->debug_start_delay_ms);

    worker::BundleModelOptions load;
    load.max_text_tokens = flags->max_tokens;
    load.backend_options = flags->backend_opts.all();
    load.zygote = !flags->zygote.empty();
    load.verify = flags->verify == "always"  ? worker::VerifyMode::kAlways
                  : flags->verify == "never" ? worker::VerifyMode::kNever
                                             : worker::VerifyMode::kFirstStart;
    load.verify_cache_dir = flags->verify_cache;
    auto loader = [&backends, load, name = flags->model_name](const std::string& path,
                                                              worker::ColdStartTimeline& tl) {
      auto model = worker::load_bundle_model(backends, path, load, tl);
      if (model.is_ok() && !name.empty()) model->name = name;
      return model;
    };
    *exit_code = flags->zygote.empty() ? worker::run_worker(o, loader, timeline, stdout)
                                       : worker::run_zygote(o, loader, timeline, flags->zygote, stdout);
  });
}

}  // namespace thaw::cli
