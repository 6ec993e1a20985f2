// The worker's HTTP surface: Open Inference Protocol (KServe v2) endpoints, Triton's repository
// index, GET /warm and GET /metrics, routed to one ModelService.
#pragma once

#include <functional>
#include <string>

#include "http/router.h"
#include "worker/model_service.h"

namespace thaw::worker {

struct RouteContext {
  ModelService* service = nullptr;
  std::string server_name = "thaw";
  std::string server_version = "0.1.0";
  // Renders the whole /metrics page (service, server and cold-start metrics).
  std::function<std::string()> metrics;
};

// Routes:
//   GET  /v2                                    server metadata
//   GET  /v2/health/live, /v2/health/ready      200 or 503
//   GET  /v2/models/{m}[/versions/{v}]          model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready    200 or 503 (404 for an unknown model)
//   GET  /v2/models/{m}[/versions/{v}]/config   Triton-style model config
//   POST /v2/models/{m}[/versions/{v}]/infer    inference
//   POST /v2/repository/index                   Triton repository index
//   GET  /warm                                  keep-alive ping: 200 once the model is loaded and warm
//   GET  /metrics                               Prometheus text format
// and for generative models the OpenAI-compatible routes (openai_routes.h) and KServe's generate
// extension (kserve_generate.h).
http::Router make_router(const RouteContext& context);

}  // namespace thaw::worker
