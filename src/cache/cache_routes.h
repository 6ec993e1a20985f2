// The cache's HTTP surface:
//   GET|HEAD /models/{name}/{version}   the bundle, byte for byte (Range supported); streams as
//                                       chunks arrive on a miss. X-Thaw-Cache: hit | miss.
//   GET|HEAD /chunks/{id}               one chunk as stored (Range supported)
//   POST /prefetch                      {"name","version"} or {"models":[{...}]}: fetch now
//   POST /pin/{name}/{version}, POST /unpin/{name}/{version}
//   GET /stats (JSON), GET /metrics (Prometheus), GET /healthz
// Errors are JSON {"error"}: 400 bad names, 404 unknown upstream object, 502 upstream failed,
// 504 upstream timed out, 416 bad range.
#pragma once

#include "cache/cache_service.h"
#include "cache/stream_server.h"

namespace thaw::cache {

// The handler for a StreamServer; `service` must outlive it.
StreamHandler make_cache_handler(CacheService& service);

// HTTP status for a failed upstream-facing operation.
int cache_error_status(const Status& status);

}  // namespace thaw::cache
