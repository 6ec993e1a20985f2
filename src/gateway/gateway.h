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
//   POST /v2/models/{m}[/versions/{v}]/generate[_stream]   KServe's generate extension, forwarded
//   POST /v2/repository/index                     every model with its state and rung
//   POST /v2/repository/models/{m}/load|unload    hold warm / drop to disk
//   GET  /admin/models                            rung, instances, queue, memory per model
//   POST /admin/models/{m}/prewarm                {"rung": "warm"|"zygote"|"page_cache"} (default warm)
//   POST /admin/models/{m}/drain                  {"rung": "zygote"|"page_cache"|"disk"} (default disk)
//   GET  /metrics                                 Prometheus text
//   POST /v1/completions, /v1/chat/completions, /v1/embeddings   OpenAI-compatible: forwarded to the
//                                                 model the JSON body's "model" names (SSE streams pass through)
//   GET  /v1/models                               every model, OpenAI's list shape
// Errors are {"error": "..."}: 400 bad tier or body, 401 no or a wrong credential, 403 refused
// (foreign Origin, tier above the key's, an API key on an admin route), 404 unknown model, 429
// shed or over a key's rate limit (Retry-After), 502 instance failed twice, 503 cannot start or
// queue full (Retry-After), 504 timed out. Who may call what: access.h. A 5xx names internal
// details (worker logs, sockets, PIDs) only to a caller with the admin token; others read them in
// the server's log.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/access.h"
#include "gateway/gateway_metrics.h"
#include "gateway/upstream_pool.h"
#include "http/inference_stats.h"
#include "http/router.h"
#include "http/server.h"
#include "manager/manager.h"

namespace thaw::gateway {

class Gateway {
 public:
  // `access` decides who may call which route (access.h); null: every route open.
  explicit Gateway(manager::Manager& manager, std::unique_ptr<Access> access = nullptr,
                   std::string version = "0.1.0");

  // Which routes a listener serves: all, all but the admin ones (the main listener when admin
  // routes have a listener of their own), or the admin ones (with health and /metrics).
  enum class Routes { kAll, kPublic, kAdmin };
  // The router for http::Server; the gateway must outlive the server.
  http::Router router(Routes which = Routes::kAll);
  // Before the server starts: its counters for /metrics and its loops for upstream pools.
  void set_server(const http::Server* server);
  // After this, /v2/health/ready answers 503 (load balancers stop sending first).
  void set_draining() { draining_ = true; }
  // Closes the kept-alive upstream connections; after the server has stopped, before it is
  // destroyed (they live on its loops).
  void close_upstreams() { pools_.clear(); }

 private:
  friend struct ProxyCall;
  // A route's handler, called once its caller was admitted.
  using Guarded = std::function<void(http::Request&, http::Responder, const Caller&)>;
  // Adds a route that admits its caller first (access.h) and names it in the request log.
  void add(http::Router& router, std::string method, std::string_view pattern, RouteKind kind, Guarded handler);
  void add_sync(http::Router& router, std::string method, std::string_view pattern, RouteKind kind,
                std::function<http::Response(http::Request&)> handler);
  Routes building_ = Routes::kAll;  // the listener router() is building for
  // Forwards to the model r.param("model"); `openai`: an OpenAI route (same path upstream, and a
  // student answering gets its own name in the body).
  // `generate`: KServe's generate extension (no student: the path names the model).
  void infer(http::Request& request, http::Responder responder, const Caller& caller, bool openai = false,
             bool generate = false);
  // The OpenAI routes: the model comes from the body (openai_proxy.cpp).
  void openai(http::Request& request, http::Responder responder, const Caller& caller);
  void add_openai_routes(http::Router& router);
  void model_info(http::Request& request, http::Responder responder, const std::string& suffix, const Caller& caller);
  void admin_move(http::Request& request, http::Responder responder, bool prewarm);
  // POST /admin/models/{m}/versions {"source", "sha256"?}: a new version (or the old one: a rollback).
  void admin_publish(http::Request& request, http::Responder responder);
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
  SteadyClock own_clock_;  // for the default Access
  std::unique_ptr<Access> access_;
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
