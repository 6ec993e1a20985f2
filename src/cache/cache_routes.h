// The cache's HTTP surface, for http::Server:
//   GET|HEAD /models/{name}/{version}   the bundle, byte for byte (Range supported); streams as
//                                       chunks arrive on a miss. X-Thaw-Cache: hit | miss.
//   GET|HEAD /chunks/{id}               one chunk as stored (Range supported)
//   POST /prefetch                      {"name","version"} or {"models":[{...}]}: fetch now
//   POST /pin/{name}/{version}, POST /unpin/{name}/{version}
//   GET /stats (JSON), GET /metrics (Prometheus), GET /healthz
// Errors are JSON {"error"}: 400 bad names, 404 unknown upstream object, 502 upstream failed,
// 504 upstream timed out, 416 bad range, 503 too much work already waiting on the upstream.
//
// Bundles and chunks are answered by asynchronous handlers: from the server loop while everything
// is local, with the body sent piece by piece with back-pressure (body_stream.h). Whatever may wait
// on the upstream (a recipe, a chunk still being fetched, a prefetch) runs on the routes' own
// bounded pool of threads, never on a server loop; a response holds one of them only while it
// waits, never while its client reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/body_stream.h"
#include "cache/cache_service.h"
#include "cache/worker_pool.h"
#include "http/endpoint.h"
#include "http/router.h"
#include "http/server.h"

namespace thaw::cache {

struct RoutesOptions {
  int wait_threads = 16;         // threads for work that waits on the upstream
  size_t max_waiting = 1024;     // such work queued beyond this is refused with 503
  uint64_t max_piece = 4 << 20;  // largest body piece handed to the server at once
};

class CacheRoutes {
 public:
  // `service` must outlive this; stop the server that serves router() before destroying this.
  explicit CacheRoutes(CacheService& service, RoutesOptions options = {});
  ~CacheRoutes();  // waits for work running on the pool; drops work still queued
  CacheRoutes(const CacheRoutes&) = delete;
  CacheRoutes& operator=(const CacheRoutes&) = delete;

  http::Router router();

  // Responses whose body is still being produced or sent.
  size_t active_streams() const { return streams_.active.load(); }
  // The service's stats plus "serving": streams and the waiting pool.
  nlohmann::json stats_json();

 private:
  // What a GET or HEAD asked for, copied off the request for work that answers later.
  struct Ask {
    std::string name, version, id;
    std::optional<std::string> range;
    bool head_only = false;
    bool only_if_cached = false;  // Cache-Control: only-if-cached (a peer cache asking): 504 unless whole here
  };
  static Ask ask_of(const http::Request& req);
  void get_model(const Ask& ask, const http::Responder& r);
  void answer_model(std::shared_ptr<const VersionLease> lease, const Ask& ask, const http::Responder& r);
  void get_chunk(const Ask& ask, const http::Responder& r);
  void answer_chunk(const std::string& key, const Ask& ask, const http::Responder& r);
  // Runs `work` on the pool; 503 when the pool's queue is full.
  void on_pool(const http::Responder& r, std::function<void()> work);

  CacheService& service_;
  RoutesOptions options_;
  std::unique_ptr<WorkerPool> pool_;  // reset first in the destructor: its tasks use the rest
  StreamContext streams_;
};

// The http::Server options `thaw cache` runs with: `io_timeout` bounds a request's arrival and
// each write to a client that stopped reading; 256 connections (then 503), 16 KiB request heads,
// 1 MiB request bodies, keep-alive connections idle for 60 s. One event loop per thread.
http::ServerOptions cache_server_options(http::Endpoint listen, std::chrono::milliseconds io_timeout);

// HTTP status for a failed upstream-facing operation.
int cache_error_status(const Status& status);

}  // namespace thaw::cache
