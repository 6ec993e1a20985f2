#include "cache/cache_routes.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/prometheus.h"
#include "http/range.h"
#include "http/router.h"

namespace thaw::cache {

namespace {

StreamResponse plain(http::Response r) { return StreamResponse{std::move(r), 0, {}}; }

StreamResponse error(const Status& s) { return plain(http::Response::error(cache_error_status(s), s.message())); }

// Applies a Range header to a body of `size` bytes: sets status/headers, returns [first, end).
Result<std::pair<uint64_t, uint64_t>> apply_range(const http::Request& req, uint64_t size, StreamResponse* resp) {
  auto range = http::parse_range(req.header("Range"), size);
  if (!range.is_ok()) {
    resp->head = http::Response::error(416, range.status().message());
    resp->head.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    return range.status();
  }
  resp->head.headers.emplace_back("Accept-Ranges", "bytes");
  if (!range->has_value()) {
    resp->head.status = 200;
    return std::make_pair(uint64_t{0}, size);
  }
  const http::ByteRange& r = **range;
  resp->head.status = 206;
  resp->head.headers.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", r.first, r.last, size));
  return std::make_pair(r.first, r.last + 1);
}

StreamResponse serve_model(CacheService& service, const http::Request& req) {
  service.counters().requests.fetch_add(1);
  auto lease = service.open_version(req.param("name"), req.param("version"));
  if (!lease.is_ok()) return error(lease.status());
  auto shared = std::make_shared<VersionLease>(std::move(*lease));
  const Recipe& recipe = shared->recipe();
  const bool hit = service.complete(recipe);
  (hit ? service.counters().hits : service.counters().misses).fetch_add(1);
  StreamResponse resp;
  resp.head.content_type = "application/octet-stream";
  auto span = apply_range(req, recipe.file_size, &resp);
  if (!span.is_ok()) return resp;
  resp.head.headers.emplace_back("X-Thaw-Cache", hit ? "hit" : "miss");
  resp.head.headers.emplace_back("ETag", fmt::format("\"{}-{}\"", recipe.name, recipe.version));
  auto [first, end] = *span;
  if (!hit) {
    service.fill_in_background(*shared);
    // Fail cleanly (502/504) rather than with a cut body when the upstream is down at the start.
    if (first < end) {
      const Extent& e = recipe.extents[recipe.extent_at(first)];
      if (e.chunk >= 0) {
        Status s = service.ensure_chunk(recipe, static_cast<size_t>(e.chunk));
        if (!s.is_ok()) return error(s);
      }
    }
  }
  resp.content_length = end - first;
  resp.body = [&service, shared, first, end](BodySink& sink) -> Status {
    const Recipe& r = shared->recipe();
    if (first >= end) return Status::ok();
    for (size_t i = r.extent_at(first); i < r.extents.size() && r.extents[i].offset < end; ++i) {
      const Extent& e = r.extents[i];
      uint64_t from = std::max(first, e.offset), to = std::min(end, e.offset + e.length);
      if (e.chunk < 0) {
        THAW_TRY(sink.write(std::string_view(r.literal).substr(e.literal_offset + (from - e.offset), to - from)));
      } else {
        THAW_TRY(service.ensure_chunk(r, static_cast<size_t>(e.chunk)));
        THAW_ASSIGN_OR_RETURN(UniqueFd fd, service.store().open_read(r.chunks[e.chunk].key()));
        THAW_TRY(sink.send_file(fd.get(), from - e.offset, to - from));
      }
      service.counters().bytes_served.fetch_add(to - from);
    }
    return Status::ok();
  };
  return resp;
}

StreamResponse serve_chunk(CacheService& service, const http::Request& req) {
  auto key = service.chunk_key_for(req.param("id"));
  if (!key.is_ok()) return error(key.status());
  auto size = service.store().size(*key);
  if (!size.is_ok()) return error(size.status());
  StreamResponse resp;
  resp.head.content_type = "application/octet-stream";
  auto span = apply_range(req, *size, &resp);
  if (!span.is_ok()) return resp;
  resp.head.headers.emplace_back("X-Thaw-Chunk-Encoding", key->size() == 32 ? "raw" : key->ends_with(".zss") ? "zstd+shuffle" : "zstd");
  auto [first, end] = *span;
  resp.content_length = end - first;
  std::string k = *key;
  resp.body = [&service, k, first, end](BodySink& sink) -> Status {
    THAW_ASSIGN_OR_RETURN(UniqueFd fd, service.store().open_read(k));
    THAW_TRY(sink.send_file(fd.get(), first, end - first));
    service.counters().bytes_served.fetch_add(end - first);
    return Status::ok();
  };
  return resp;
}

http::Response prefetch(CacheService& service, const http::Request& req) {
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return http::Response::error(400, "body must be {\"name\", \"version\"} or {\"models\": [...]}");
  nlohmann::json list = j.contains("models") ? j["models"] : nlohmann::json::array({j});
  if (!list.is_array() || list.empty()) return http::Response::error(400, "\"models\" must be a non-empty array");
  nlohmann::json done = nlohmann::json::array();
  for (const auto& m : list) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !m.contains("version") ||
        !m["version"].is_string())
      return http::Response::error(400, "each model needs string \"name\" and \"version\"");
    std::string name = m["name"], version = m["version"];
    Status s = service.prefetch(name, version);
    if (!s.is_ok()) return http::Response::error(cache_error_status(s), s.message());
    if (m.value("pin", false)) (void)service.set_pinned(name, version, true);
    done.push_back({{"name", name}, {"version", version}, {"cached", true}});
  }
  return http::Response::json(200, {{"models", done}});
}

}  // namespace

int cache_error_status(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kDeadlineExceeded: return 504;
    case Code::kResourceExhausted: return 507;
    case Code::kUnavailable:
    case Code::kCorrupt:
    case Code::kIo: return 502;
    default: return 500;
  }
}

StreamHandler make_cache_handler(CacheService& service) {
  auto router = std::make_shared<http::Router>();
  router->post("/prefetch", [&service](const http::Request& r) { return prefetch(service, r); });
  router->post("/pin/{name}/{version}", [&service](const http::Request& r) {
    Status s = service.set_pinned(r.param("name"), r.param("version"), true);
    return s.is_ok() ? http::Response::json(200, {{"pinned", true}}) : http::Response::from_status(s);
  });
  router->post("/unpin/{name}/{version}", [&service](const http::Request& r) {
    Status s = service.set_pinned(r.param("name"), r.param("version"), false);
    return s.is_ok() ? http::Response::json(200, {{"pinned", false}}) : http::Response::from_status(s);
  });
  router->get("/stats", [&service](const http::Request&) { return http::Response::json(200, service.stats_json()); });
  router->get("/metrics", [&service](const http::Request&) {
    return http::Response::text(200, service.metrics_text(), std::string(http::kPrometheusContentType));
  });
  router->get("/healthz", [](const http::Request&) { return http::Response::json(200, {{"status", "ok"}}); });
  router->get("/models/{name}/{version}", [](const http::Request&) { return http::Response::error(500, "unrouted"); });
  router->get("/chunks/{id}", [](const http::Request&) { return http::Response::error(500, "unrouted"); });

  return [&service, router](http::Request& req) -> StreamResponse {
    const auto parts = http::split_path(req.path);
    const bool read = req.method == "GET" || req.method == "HEAD";
    auto decoded = [&](size_t i) { return http::percent_decode(parts[i]); };
    if (read && parts.size() == 3 && parts[0] == "models") {
      auto name = decoded(1), version = decoded(2);
      if (!name || !version) return plain(http::Response::error(400, "bad percent-escape in the path"));
      req.params["name"] = *name;
      req.params["version"] = *version;
      return serve_model(service, req);
    }
    if (read && parts.size() == 2 && parts[0] == "chunks") {
      req.params["id"] = std::string(parts[1]);
      return serve_chunk(service, req);
    }
    if (req.method == "HEAD") req.method = "GET";
    return plain(router->dispatch(req));
  };
}

}  // namespace thaw::cache
