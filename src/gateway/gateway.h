// The front door of `thaw serve`: the Open Inference Protocol (KServe v2) outward, so clients
// cannot tell it from one Triton server, forwarding each request to an instance the manager
// leases. Admin routes move models along the ladder.
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

#include "gateway/gateway_metrics.h"
#include "http/router.h"
#include "http/server.h"
#include "manager/manager.h"

namespace thaw::gateway {

class Gateway {
 public:
  explicit Gateway(manager::Manager& manager, std::string version = "0.1.0");

  // The router for http::Server; the gateway must outlive the server.
  http::Router router();
  // For /metrics: the server's own counters (optional).
  void set_server(const http::Server* server) { server_ = server; }
  // After this, /v2/health/ready answers 503 (load balancers stop sending first).
  void set_draining() { draining_ = true; }

  http::Response infer(const http::Request& request);

 private:
  http::Response model_info(const http::Request& request, const std::string& suffix);
  http::Response admin_move(const http::Request& request, bool prewarm);

  manager::Manager& manager_;
  std::string version_;
  GatewayMetrics metrics_;
  const http::Server* server_ = nullptr;
  std::atomic<bool> draining_{false};
  std::mutex cache_mu_;
  std::map<std::string, http::Response> info_cache_;  // "model|suffix" -> metadata or config
};

}  // namespace thaw::gateway
