// The front door of `thaw serve`: the Open Inference Protocol (KServe v2) outward, so clients
// cannot tell it from one Triton server, forwarding each request to an instance the manager
// leases. Admin routes move models along the ladder.
//
// Nothing here waits on a thread: a request for a cold model is queued in the manager as state,
// its answer streams from the instance chunk by chunk on the loop of the client's connection, and
// a client that hangs up cancels its queued or running request.
//
// Routes:
//   GET  /v2, /v2/health/live, /v2/health/ready
//   GET  /v2/models/{m}[/versions/{v}]            metadata (from an instance, then cached)
//   GET  /v2/models/{m}[/versions/{v}]/ready      200 for every known model: a cold one still serves
//   GET  /v2/models/{m}[/versions/{v}]/config
//   POST /v2/models/{m}[/versions/{v}]/infer      forwarded; one retry if the instance dies
//   POST /v2/repository/index                     every model with its state and rung
//   POST /v2/repository/models/{m}/load|unload    hold warm / drop to disk
//   GET  /admin/models                            rung, instances, queue, memory per model
//   POST /admin/models/{m}/prewarm                {"rung": "warm"|"zygote"|"page_cache"} (default warm)
//   POST /admin/models/{m}/drain                  {"rung": "zygote"|"page_cache"|"disk"} (default disk)
//   GET  /metrics                                 Prometheus text
// Errors are {"error": "..."}: 400 bad tier or body, 404 unknown model, 429 shed (Retry-After),
// 502 instance failed twice, 503 cannot start or queue full (Retry-After), 504 timed out.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/gateway_metrics.h"
#include "gateway/upstream_pool.h"
#include "http/inference_stats.h"
#include "http/router.h"
#include "http/server.h"
#include "manager/manager.h"

namespace thaw::gateway {

class Gateway {
 public:
  explicit Gateway(manager::Manager& manager, std::string version = "0.1.0");

  // The router for http::Server; the gateway must outlive the server.
  http::Router router();
  // Before the server starts: its counters for /metrics and its loops for upstream pools.
  void set_server(const http::Server* server);
  // After this, /v2/health/ready answers 503 (load balancers stop sending first).
  void set_draining() { draining_ = true; }
  // Closes the kept-alive upstream connections; after the server has stopped, before it is
  // destroyed (they live on its loops).
  void close_upstreams() { pools_.clear(); }

 private:
  friend struct ProxyCall;
  void infer(http::Request& request, http::Responder responder);
  void model_info(http::Request& request, http::Responder responder, const std::string& suffix);
  void admin_move(http::Request& request, http::Responder responder, bool prewarm);
  void repository_load(http::Request& request, http::Responder responder, bool load);
  // Decodes a compressed JSON body of an admin or repository route; the error response if it cannot.
  std::optional<http::Response> decode_body(http::Request& request) const;
  // Checks the path's model and version: the error response, or nothing when it is served here.
  std::optional<http::Response> check_model(const http::Request& request) const;
  http::InferenceStats* stats_for(const std::string& model) const;
  // The upstream pool of a server loop; nullptr for another loop.
  UpstreamPool* pool_for(const http::Loop& loop);
  void cache_info(const std::string& key, const http::Response& response);

  manager::Manager& manager_;
  std::string version_;
  GatewayMetrics metrics_;
  const http::Server* server_ = nullptr;
  std::atomic<bool> draining_{false};
  // One per server loop, each touched only by its loop's thread.
  std::vector<std::unique_ptr<UpstreamPool>> pools_;
  std::map<std::string, std::unique_ptr<http::InferenceStats>> stats_;  // fixed set of models: no lock
  std::mutex cache_mu_;
  std::map<std::string, http::Response> info_cache_;  // "model|version|suffix" -> metadata or config
};

}  // namespace thaw::gateway
