#include "cache/cache_routes.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "cache/version_body.h"
#include "common/usable_cores.h"
#include "http/credentials.h"
#include "http/prometheus.h"
#include "http/range.h"

namespace thaw::cache {

namespace {

using namespace std::chrono_literals;

http::Response error(const Status& s) { return http::Response::error(cache_error_status(s), s.message()); }

http::Response prefetch(CacheService& service, const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return http::Response::error(400, "body must be {\"name\", \"version\"} or {\"models\": [...]}");
  nlohmann::json list = j.contains("models") ? j["models"] : nlohmann::json::array({j});
  if (!list.is_array() || list.empty())
    return http::Response::error(400, "\"models\" must be a non-empty array");
  nlohmann::json done = nlohmann::json::array();
  for (const auto& m : list) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !m.contains("version") ||
        !m["version"].is_string())
      return http::Response::error(400, "each model needs string \"name\" and \"version\"");
    std::string name = m["name"], version = m["version"];
    Status s = service.prefetch(name, version);
    if (!s.is_ok()) return error(s);
    if (m.value("pin", false)) (void)service.set_pinned(name, version, true);
    done.push_back({{"name", name}, {"version", version}, {"cached", true}});
  }
  return http::Response::json(200, {{"models", done}});
}

// A browser page on another site may POST here without a preflight: its Origin is refused.
std::optional<http::Response> refuse_cross_site(const http::Request& r) {
  if (auto origin = http::foreign_origin(r, {}))
    return http::Response::error(403, fmt::format("a request from the web page origin '{}' is refused", *origin));
  return std::nullopt;
}

}  // namespace

int cache_error_status(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kResourceExhausted:
      return 507;
    case Code::kUnavailable:
    case Code::kCorrupt:
    case Code::kIo:
      return 502;
    default:
      return 500;
  }
}

http::ServerOptions cache_server_options(http::Endpoint listen, std::chrono::milliseconds io_timeout) {
  http::ServerOptions o;
  o.listen = std::move(listen);
  o.max_connections = 256;
  o.max_header_bytes = 16 << 10;
  o.max_body_bytes = 1 << 20;
  o.request_timeout = io_timeout;
  o.write_timeout = io_timeout;
  o.idle_timeout = 60s;
  // Handlers never block (waits go to the routes' pool), so a loop per thread costs nothing and
  // keeps each stream's pieces on one thread; the extra thread only accepts.
  o.threads = static_cast<int>(std::max(2u, usable_cores())) + 1;
  o.loop_per_thread = true;
  return o;
}

CacheRoutes::CacheRoutes(CacheService& service, RoutesOptions options)
    : service_(service),
      options_(options),
      pool_(std::make_unique<WorkerPool>(options.wait_threads, options.max_waiting)),
      streams_{*pool_, &service.counters().bytes_served} {}

CacheRoutes::~CacheRoutes() { pool_.reset(); }

CacheRoutes::Ask CacheRoutes::ask_of(const http::Request& req) {
  Ask a;
  a.name = req.param("name");
  a.version = req.param("version");
  a.id = req.param("id");
  if (auto range = req.header("Range")) a.range = std::string(*range);
  a.head_only = req.method == "HEAD";
  if (auto cc = req.header("Cache-Control")) a.only_if_cached = cc->find("only-if-cached") != std::string_view::npos;
  return a;
}

void CacheRoutes::on_pool(const http::Responder& r, std::function<void()> work) {
  if (!pool_->submit(std::move(work)))
    r.send(http::Response::error(503, "the cache is busy: too many requests are waiting for the upstream"));
}

void CacheRoutes::get_model(const Ask& ask, const http::Responder& r) {
  service_.counters().requests.fetch_add(1);
  auto local = service_.find_version(ask.name, ask.version);
  if (!local.is_ok()) {
    r.send(error(local.status()));
  } else if (ask.only_if_cached && (!*local || !service_.complete((*local)->recipe()))) {
    // RFC 9111 5.2.1.7: a cache asked only-if-cached that cannot answer from what it holds says 504.
    r.send(http::Response::error(504, fmt::format("{}/{} is not whole in this cache (Cache-Control: only-if-cached)",
                                                  ask.name, ask.version)));
  } else if (*local) {
    answer_model(std::make_shared<const VersionLease>(std::move(**local)), ask, r);
  } else {
    on_pool(r, [this, ask, r] {
      if (r.cancelled()) return;
      auto lease = service_.open_version(ask.name, ask.version);
      if (!lease.is_ok()) {
        r.send(error(lease.status()));
        return;
      }
      answer_model(std::make_shared<const VersionLease>(std::move(*lease)), ask, r);
    });
  }
}

void CacheRoutes::answer_model(std::shared_ptr<const VersionLease> lease, const Ask& ask,
                               const http::Responder& r) {
  const Recipe& recipe = lease->recipe();
  const bool hit = service_.complete(recipe);
  // A miss stores what it streams: with a directory that takes no writes it would send 200 and
  // then cut the body, so it is refused before the status line instead.
  if (!hit) {
    if (Status w = service_.check_writable(); !w.is_ok()) {
      http::Response refused = http::Response::error(503, "the cache cannot store this bundle now: " + w.message());
      refused.headers.emplace_back("Retry-After", "10");
      r.send(std::move(refused));
      return;
    }
  }
  (hit ? service_.counters().hits : service_.counters().misses).fetch_add(1);
  http::ResponseHead head;
  head.content_type = "application/octet-stream";
  auto span = http::select_range(ask.range, recipe.file_size, &head.headers);
  if (!span.is_ok()) {
    r.send(http::range_not_satisfiable(recipe.file_size, span.status()));
    return;
  }
  head.status = span->status;
  head.headers.emplace_back("X-Thaw-Cache", hit ? "hit" : "miss");
  head.headers.emplace_back("ETag", fmt::format("\"{}-{}\"", recipe.name, recipe.version));
  head.content_length = span->end - span->first;
  if (!hit) service_.fill_in_background(*lease);
  auto body =
      std::make_unique<VersionBody>(service_, std::move(lease), span->first, span->end, options_.max_piece);
  stream_body(streams_, r, std::move(head), std::move(body), ask.head_only, error);
}

void CacheRoutes::get_chunk(const Ask& ask, const http::Responder& r) {
  if (!is_chunk_id(ask.id)) {
    r.send(http::Response::error(400, fmt::format("'{}' is not a chunk id", ask.id)));
  } else if (auto key = service_.stored_chunk_key(ask.id)) {
    answer_chunk(*key, ask, r);
  } else {
    on_pool(r, [this, ask, r] {
      if (r.cancelled()) return;
      auto key = service_.chunk_key_for(ask.id);
      if (!key.is_ok()) {
        r.send(error(key.status()));
        return;
      }
      answer_chunk(*key, ask, r);
    });
  }
}

void CacheRoutes::answer_chunk(const std::string& key, const Ask& ask, const http::Responder& r) {
  // The open descriptor keeps the bytes readable even if the chunk is evicted meanwhile.
  auto size = service_.store().size(key);
  if (!size.is_ok()) {
    r.send(error(size.status()));
    return;
  }
  auto fd = service_.store().open_read(key);
  if (!fd.is_ok()) {
    r.send(error(fd.status()));
    return;
  }
  http::ResponseHead head;
  head.content_type = "application/octet-stream";
  auto span = http::select_range(ask.range, *size, &head.headers);
  if (!span.is_ok()) {
    r.send(http::range_not_satisfiable(*size, span.status()));
    return;
  }
  head.status = span->status;
  head.headers.emplace_back("X-Thaw-Chunk-Encoding", key.size() == 32        ? "raw"
                                                     : key.ends_with(".zss") ? "zstd+shuffle"
                                                                             : "zstd");
  head.content_length = span->end - span->first;
  auto body =
      std::make_unique<FileSource>(std::move(*fd), span->first, span->end - span->first, options_.max_piece);
  stream_body(streams_, r, std::move(head), std::move(body), ask.head_only, error);
}

nlohmann::json CacheRoutes::stats_json() {
  nlohmann::json j = service_.stats_json();
  j["serving"] = {{"streams", streams_.active.load()},
                  {"wait_threads", pool_->threads()},
                  {"wait_busy", pool_->busy()},
                  {"wait_queued", pool_->queued()}};
  return j;
}

http::Router CacheRoutes::router() {
  http::Router router;
  router.add_async("GET", "/models/{name}/{version}",
                   [this](http::Request& req, http::Responder r) { get_model(ask_of(req), r); });
  router.add_async("GET", "/chunks/{id}",
                   [this](http::Request& req, http::Responder r) { get_chunk(ask_of(req), r); });
  router.add_async("POST", "/prefetch", [this](http::Request& req, http::Responder r) {
    if (auto refused = refuse_cross_site(req)) {
      r.send(std::move(*refused));
      return;
    }
    on_pool(r, [this, body = std::move(req.body), r] { r.send(prefetch(service_, body)); });
  });
  router.post("/pin/{name}/{version}", [this](const http::Request& r) {
    if (auto refused = refuse_cross_site(r)) return *refused;
    Status s = service_.set_pinned(r.param("name"), r.param("version"), true);
    return s.is_ok() ? http::Response::json(200, {{"pinned", true}}) : http::Response::from_status(s);
  });
  router.post("/unpin/{name}/{version}", [this](const http::Request& r) {
    if (auto refused = refuse_cross_site(r)) return *refused;
    Status s = service_.set_pinned(r.param("name"), r.param("version"), false);
    return s.is_ok() ? http::Response::json(200, {{"pinned", false}}) : http::Response::from_status(s);
  });
  router.get("/stats", [this](const http::Request&) { return http::Response::json(200, stats_json()); });
  router.get("/metrics", [this](const http::Request&) {
    http::PrometheusText p;
    p.family("thaw_cache_streams", "gauge", "Responses whose body is being sent.");
    p.sample("thaw_cache_streams", {}, static_cast<double>(streams_.active.load()));
    p.family("thaw_cache_wait_threads_busy", "gauge",
             "Threads of the pool waiting on the upstream for requests.");
    p.sample("thaw_cache_wait_threads_busy", {}, static_cast<double>(pool_->busy()));
    return http::Response::text(200, service_.metrics_text() + p.text(),
                                std::string(http::kPrometheusContentType));
  });
  router.get("/healthz", [this](const http::Request&) {
    // Unhealthy while the cache directory takes no writes: every miss would fail.
    Status w = service_.check_writable();
    if (!w.is_ok()) return http::Response::json(503, {{"status", "unhealthy"}, {"error", w.message()}});
    return http::Response::json(200, {{"status", "ok"}});
  });
  return router;
}

}  // namespace thaw::cache
