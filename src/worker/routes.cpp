#include "worker/routes.h"

#include <nlohmann/json.hpp>

#include "http/prometheus.h"
#include "protocol/worker_protocol.h"
#include "worker/kserve_generate.h"
#include "worker/openai_embeddings.h"
#include "worker/openai_routes.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

// The model named by the path, or a 404 response.
std::optional<Response> check_model(const ModelService& s, const Request& r) {
  const std::string& m = r.param("model");
  const std::string& v = r.param("version");
  if (m != s.name()) return Response::error(404, "unknown model '" + m + "'; this worker serves '" + s.name() + "'");
  if (!s.serves(m, v))
    return Response::error(404, "model '" + m + "' has no version '" + v + "'; it has '" + s.version() + "'");
  return std::nullopt;
}

// A wire datatype as Triton's model configuration names it (BYTES is TYPE_STRING there).
std::string triton_type(const std::string& datatype) {
  return datatype == "BYTES" ? "TYPE_STRING" : "TYPE_" + datatype;
}

}  // namespace

http::Router make_router(const RouteContext& ctx) {
  ModelService* s = ctx.service;
  http::Router router;
  router.get("/v2", [ctx](const Request&) {
    return Response::json(200, {{"name", ctx.server_name},
                                {"version", ctx.server_version},
                                {"extensions", {"binary_tensor_data", "model_repository", "statistics"}}});
  });
  router.get(protocol::kLivePath, [](const Request&) { return Response::json(200, {{"live", true}}); });
  router.get(protocol::kReadyPath, [s](const Request&) {
    return s->ready() ? Response::json(200, {{"ready", true}})
                      : Response::json(503, {{"ready", false}, {"error", "warming up"}});
  });
  router.get(protocol::kWarmPath, [s](const Request&) {
    return s->ready() ? Response::text(200, "warm\n") : Response::error(503, "warming up");
  });
  router.get("/metrics", [ctx](const Request&) {
    return Response::text(200, ctx.metrics ? ctx.metrics() : "", std::string(http::kPrometheusContentType));
  });
  router.get("/v2/models/stats", [s](const Request&) {
    return Response::json(200, {{"model_stats", json::array({s->statistics()})}});
  });
  router.post("/v2/repository/index", [s](const Request&) {
    return Response::json(200, json::array({{{"name", s->name()},
                                             {"version", s->version()},
                                             {"state", s->ready() ? "READY" : "LOADING"}}}));
  });
  for (std::string prefix : {std::string(protocol::kModelRoute), std::string(protocol::kModelVersionRoute)}) {
    router.get(prefix, [s](const Request& r) {
      if (auto err = check_model(*s, r)) return *err;
      return Response::json(200, s->metadata());
    });
    router.get(prefix + "/ready", [s](const Request& r) {
      if (auto err = check_model(*s, r)) return *err;
      return s->ready() ? Response::json(200, {{"name", s->name()}, {"ready", true}})
                        : Response::json(503, {{"name", s->name()}, {"ready", false}, {"error", "warming up"}});
    });
    router.get(prefix + "/stats", [s](const Request& r) {
      if (auto err = check_model(*s, r)) return *err;
      return Response::json(200, {{"model_stats", json::array({s->statistics()})}});
    });
    router.get(prefix + "/config", [s](const Request& r) {
      if (auto err = check_model(*s, r)) return *err;
      json meta = s->metadata();
      auto convert = [](const json& specs) {
        json out = json::array();
        for (const auto& t : specs)
          out.push_back({{"name", t["name"]}, {"data_type", triton_type(t["datatype"].get<std::string>())}, {"dims", t["shape"]}});
        return out;
      };
      return Response::json(200, {{"name", s->name()},
                                  {"platform", meta["platform"]},
                                  {"max_batch_size", 0},
                                  {"input", convert(meta["inputs"])},
                                  {"output", convert(meta["outputs"])}});
    });
    router.post(prefix + std::string(protocol::kInferSuffix), [s](const Request& r) {
      if (auto err = check_model(*s, r)) return *err;
      return s->infer(r);
    });
  }
  add_openai_routes(router, s);
  add_generate_routes(router, s);
  add_embeddings_route(router, s);
  return router;
}

}  // namespace thaw::worker
