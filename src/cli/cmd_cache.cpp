// `thaw cache`: a local model cache proxy in front of a remote registry (see docs/cache.md).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cache/cache_routes.h"
#include "cache/cache_service.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "http/server.h"

namespace thaw::cli {

namespace {

struct CacheFlags {
  std::string upstream;
  std::vector<std::string> peers;
  std::string kind = "http";
  std::string bucket;
  std::string dir;
  std::string host = "127.0.0.1";
  int port = 8090;
  size_t keep_versions = 3;
  std::string max_bytes = "64G";
  int fetch_threads = 8;
  int wait_threads = 16;
  int timeout_ms = 30'000;
  int retries = 4;
  int backoff_ms = 100;
  std::vector<std::string> pins;
  bool no_verify = false;
};

Result<uint64_t> parse_bytes(const std::string& text) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    return make_error(Code::kInvalidArgument, "'{}' is not a size (e.g. 512M, 20G)", text);
  }
  std::string unit = text.substr(pos);
  double mult = 1;
  if (unit == "K" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    return make_error(Code::kInvalidArgument, "unknown size unit in '{}'", text);
  if (v < 0) return make_error(Code::kInvalidArgument, "size '{}' is negative", text);
  return static_cast<uint64_t>(v * mult);
}

int run_cache(const CacheFlags& f) {
  auto budget = parse_bytes(f.max_bytes);
  if (!budget.is_ok()) {
    fmt::print(stderr, "thaw cache: {}\n", budget.status().message());
    return kExitUsage;
  }
  if (f.kind != "http" && f.kind != "s3") {
    fmt::print(stderr, "thaw cache: --upstream-kind must be http or s3\n");
    return kExitUsage;
  }
  // Signals go to the waiting main thread only, not to the server's threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SteadyClock clock;
  cache::RealSleeper sleeper;
  cache::CacheOptions o;
  o.dir = f.dir;
  o.limits = {.max_versions_per_model = f.keep_versions, .byte_budget = *budget};
  o.upstream.url = f.upstream;
  o.upstream.kind = f.kind == "s3" ? cache::UpstreamKind::kS3 : cache::UpstreamKind::kHttp;
  o.upstream.bucket = f.bucket;
  o.upstream.peers = f.peers;
  o.upstream.timeout = std::chrono::milliseconds(f.timeout_ms);
  o.upstream.retry.max_attempts = std::max(1, f.retries + 1);
  o.upstream.retry.initial_backoff = std::chrono::milliseconds(f.backoff_ms);
  o.fetch_threads = f.fetch_threads;
  o.verify_on_start = !f.no_verify;
  auto service = cache::CacheService::open(std::move(o), clock, sleeper);
  if (!service.is_ok()) {
    fmt::print(stderr, "thaw cache: {}\n", service.status().to_string());
    return service.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  for (const std::string& pin : f.pins) {
    size_t colon = pin.find(':');
    if (colon == std::string::npos) {
      fmt::print(stderr, "thaw cache: --pin wants NAME:VERSION, got '{}'\n", pin);
      return kExitUsage;
    }
    Status s = (*service)->prefetch(pin.substr(0, colon), pin.substr(colon + 1));
    if (s.is_ok()) s = (*service)->set_pinned(pin.substr(0, colon), pin.substr(colon + 1), true);
    if (!s.is_ok()) fmt::print(stderr, "thaw cache: pinning {}: {}\n", pin, s.to_string());
  }
  cache::CacheRoutes routes(**service, {.wait_threads = f.wait_threads});
  auto server = http::Server::listen(
      cache::cache_server_options(http::Endpoint::tcp(f.host, static_cast<uint16_t>(f.port)),
                                  std::chrono::milliseconds(f.timeout_ms)),
      routes.router());
  if (!server.is_ok()) {
    fmt::print(stderr, "thaw cache: {}\n", server.status().to_string());
    return kExitFailure;
  }
  (*server)->start();
  const auto& rec = (*service)->store().recovery();
  fmt::print("{}\n", nlohmann::json{{"event", "ready"},
                                    {"host", (*server)->endpoint().host},
                                    {"port", (*server)->endpoint().port},
                                    {"chunks", rec.chunks_kept},
                                    {"bytes", rec.bytes_kept},
                                    {"temps_removed", rec.temps_removed},
                                    {"corrupt_removed", rec.corrupt_removed}}
                         .dump());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->stop(std::chrono::milliseconds(0));  // cuts downloads in flight, as a restart would
  return kExitOk;
}

}  // namespace

void register_cache(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<CacheFlags>();
  CLI::App* cmd = app.add_subcommand(
      "cache",
      "Run a local model cache proxy in front of a remote registry.\n"
      "Clients GET /models/NAME/VERSION (Range supported) and /chunks/ID from it instead of the\n"
      "registry. Bundles are stored by chunk content (versions share chunks), fetched in parallel\n"
      "by range, checked against their hashes and written atomically. Also: POST /prefetch,\n"
      "POST /pin/NAME/VERSION, /unpin/..., GET /stats, GET /metrics. Stdout prints one JSON line\n"
      "{\"event\":\"ready\",\"port\":N} once it listens; SIGINT/SIGTERM stop it.");
  cmd->add_option("--upstream", flags->upstream,
                  "Registry URL: http://HOST:PORT[/PREFIX]; bundles live at PREFIX/NAME/VERSION.thaw")
      ->required();
  cmd->add_option("--upstream-kind", flags->kind,
                  "http (any server with Range support) or s3 (S3-compatible, path-style, anonymous)")
      ->capture_default_str();
  cmd->add_option("--bucket", flags->bucket, "Bucket for --upstream-kind s3");
  cmd->add_option("--peer", flags->peers,
                  "Another node's thaw cache (http://HOST:PORT), tried before the registry, in the order given "
                  "(repeatable); asked only for versions it holds whole (Cache-Control: only-if-cached)");
  cmd->add_option("--dir", flags->dir, "Cache directory (chunks/ and versions/)")->required();
  cmd->add_option("--host", flags->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", flags->port, "Port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--keep-versions", flags->keep_versions,
                  "Versions kept per model (least recently used go first)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-bytes", flags->max_bytes, "Byte budget for cached chunks, e.g. 512M, 20G")
      ->capture_default_str();
  cmd->add_option("--fetch-threads", flags->fetch_threads, "Parallel chunk fetches from the upstream")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--wait-threads", flags->wait_threads,
                  "Threads for requests waiting on the upstream (a download holds one only while it waits "
                  "for a chunk, never while its client reads)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--timeout-ms", flags->timeout_ms,
                  "Timeout of one upstream request and of a stalled client")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--retries", flags->retries, "Retries of a failed upstream read (exponential backoff)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cmd->add_option("--backoff-ms", flags->backoff_ms, "First retry delay; doubles each retry")
      ->capture_default_str();
  cmd->add_option("--pin", flags->pins, "NAME:VERSION to fetch at start and never evict (repeatable)");
  cmd->add_flag("--no-verify", flags->no_verify, "Skip re-hashing every stored chunk at start-up");
  cmd->callback([flags, exit_code] { *exit_code = run_cache(*flags); });
}

}  // namespace thaw::cli
