#include "gateway/gateway.h"

#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace thaw::gateway {

using http::Request;
using http::Response;
using json = nlohmann::json;
using manager::Tier;
using policy::Rung;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Maps a manager refusal to the status a client should see.
Response refusal(const Status& s, Tier tier) {
  switch (s.code()) {
    case Code::kResourceExhausted: {
      // Shedding says "later"; a full queue for premium or standard is the server's problem.
      Response r = Response::error(tier == Tier::kBatch ? 429 : 503, s.message());
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case Code::kUnavailable: {
      Response r = Response::error(503, s.message());
      r.headers.emplace_back("Retry-After", "2");
      return r;
    }
    case Code::kDeadlineExceeded: return Response::error(504, s.message());
    case Code::kNotFound: return Response::error(404, s.message());
    default: return Response::from_status(s);
  }
}

Result<Rung> parse_rung_body(const std::string& body, Rung fallback) {
  if (body.empty()) return fallback;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Code::kInvalidArgument, "body must be a JSON object");
  if (!j.contains("rung")) return fallback;
  if (!j["rung"].is_string()) return make_error(Code::kInvalidArgument, "'rung' must be a string");
  std::string name = j["rung"].get<std::string>();
  for (Rung r : policy::kAllRungs)
    if (policy::rung_name(r) == name) return r;
  return make_error(Code::kInvalidArgument, "unknown rung '{}'; use warm, zygote, page_cache or disk", name);
}

}  // namespace

Gateway::Gateway(manager::Manager& manager, std::string version)
    : manager_(manager), version_(std::move(version)), metrics_(manager.model_names()) {}

Response Gateway::infer(const Request& r) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& model = r.param("model");
  auto tier = manager::parse_tier(r.header(manager::kTierHeader));
  if (!tier.is_ok()) return Response::from_status(tier.status());
  if (!manager_.has_model(model))
    return Response::error(404, "unknown model '" + model + "'; POST /v2/repository/index lists the models");

  http::Headers forward;
  for (const char* name : {"Content-Type", "Inference-Header-Content-Length", "Accept"})
    if (auto v = r.header(name)) forward.emplace_back(name, std::string(*v));

  // A cold model with a student: the student answers while the model starts.
  std::string serving = model;
  std::string target = r.target;
  const manager::ModelConfig* config = manager_.model_config(model);
  if (!config->student.empty() && !manager_.has_instance(model, *tier)) {
    manager_.start_in_background(model);
    serving = config->student;
    target = "/v2/models/" + serving + "/infer";
  }

  double queue_s = -1, upstream_s = -1;
  Response out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = manager_.acquire(serving, *tier);
    if (!lease.is_ok()) {
      out = refusal(lease.status(), *tier);
      break;
    }
    queue_s = to_seconds(lease->queued());
    if (auto from = lease->cold_from()) metrics_.cold_request(serving, *from);
    const auto up0 = std::chrono::steady_clock::now();
    auto resp = lease->client().request("POST", target, forward, std::string(r.body));
    upstream_s = seconds_since(up0);
    if (!resp.is_ok()) {
      lease->mark_failed();
      const bool broke = resp.status().code() == Code::kUnavailable;
      spdlog::warn("model={} instance {} failed mid-request (attempt {}): {}", model, lease->instance_id(),
                   attempt + 1, resp.status().to_string());
      if (broke && attempt == 0) {
        metrics_.retry(model);
        continue;  // the lease goes back (and the instance is checked) before the retry
      }
      out = broke ? Response::error(502, "model '" + model + "': the instance failed mid-request twice (" +
                                             resp.status().message() + ")")
                  : Response::error(504, "model '" + model + "': no answer within the request timeout (" +
                                             resp.status().message() + ")");
      break;
    }
    if (resp->status == 503 && attempt == 0) {
      // The instance is stopping (its zygote died, or someone sent it SIGTERM) and did not run
      // the request: it takes no more, and the request goes to another one.
      lease->mark_failed();
      spdlog::warn("model={} instance {} answered 503 (stopping); retrying elsewhere", model, lease->instance_id());
      metrics_.retry(model);
      continue;
    }
    out.status = resp->status;
    auto ct = resp->header("Content-Type");
    out.content_type = ct ? std::string(*ct) : "application/json";
    if (auto h = resp->header("Inference-Header-Content-Length"))
      out.headers.emplace_back("Inference-Header-Content-Length", std::string(*h));
    if (auto from = lease->cold_from()) out.headers.emplace_back("X-Thaw-Cold-Start", std::string(policy::rung_name(*from)));
    if (serving != model) {
      out.headers.emplace_back("X-Thaw-Served-By", serving);
      metrics_.student_answer(model);
    }
    out.body = std::move(resp->body);
    break;
  }
  metrics_.request(model, *tier, out.status, seconds_since(t0), queue_s, upstream_s);
  return out;
}

Response Gateway::model_info(const Request& r, const std::string& suffix) {
  const std::string& model = r.param("model");
  if (!manager_.has_model(model))
    return Response::error(404, "unknown model '" + model + "'; POST /v2/repository/index lists the models");
  const std::string key = model + "|" + r.param("version") + "|" + suffix;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = info_cache_.find(key); it != info_cache_.end()) return it->second;
  }
  auto lease = manager_.acquire(model, Tier::kStandard);
  if (!lease.is_ok()) return refusal(lease.status(), Tier::kStandard);
  auto resp = lease->client().get(r.path);
  if (!resp.is_ok()) {
    lease->mark_failed();
    return Response::error(502, "model '" + model + "': " + resp.status().message());
  }
  Response out;
  out.status = resp->status;
  out.body = std::move(resp->body);
  if (out.status == 200) {
    std::lock_guard lock(cache_mu_);
    info_cache_[key] = out;
  }
  return out;
}

Response Gateway::admin_move(const Request& r, bool prewarm) {
  const std::string& model = r.param("model");
  auto rung = parse_rung_body(r.body, prewarm ? Rung::kWarm : Rung::kDisk);
  if (!rung.is_ok()) return Response::from_status(rung.status());
  if (prewarm && *rung == Rung::kDisk)
    return Response::error(400, "prewarm goes up the ladder: use warm, zygote or page_cache");
  if (!prewarm && *rung == Rung::kWarm) return Response::error(400, "drain goes down the ladder: use zygote, page_cache or disk");
  const auto t0 = std::chrono::steady_clock::now();
  Status s = manager_.hold(model, *rung);
  if (!s.is_ok()) return s.code() == Code::kNotFound ? Response::error(404, s.message()) : refusal(s, Tier::kStandard);
  return Response::json(200, {{"model", model},
                              {"rung", policy::rung_name(*rung)},
                              {"seconds", seconds_since(t0)}});
}

http::Router Gateway::router() {
  http::Router router;
  router.get("/v2", [this](const Request&) {
    return Response::json(200, {{"name", "thaw"}, {"version", version_},
                                {"extensions", {"binary_tensor_data", "model_repository"}}});
  });
  router.get("/v2/health/live", [](const Request&) { return Response::text(200, "", ""); });
  router.get("/v2/health/ready", [this](const Request&) {
    return draining_ ? Response::error(503, "shutting down") : Response::text(200, "", "");
  });
  router.get("/metrics", [this](const Request&) {
    return Response::text(200, metrics_.render(manager_, server_), std::string(http::kPrometheusContentType));
  });
  router.post("/v2/repository/index", [this](const Request&) {
    json out = json::array();
    const json described = manager_.describe();  // a range-for over a member of a temporary dangles
    for (const auto& m : described["models"])
      out.push_back({{"name", m["name"]}, {"version", "1"}, {"state", "READY"},
                     {"reason", "rung " + m["rung"].get<std::string>()}});
    return Response::json(200, out);
  });
  router.post("/v2/repository/models/{model}/load", [this](const Request& r) {
    Status s = manager_.hold(r.param("model"), Rung::kWarm);
    return s.is_ok() ? Response::text(200, "", "") : refusal(s, Tier::kStandard);
  });
  router.post("/v2/repository/models/{model}/unload", [this](const Request& r) {
    Status s = manager_.hold(r.param("model"), Rung::kDisk);
    return s.is_ok() ? Response::text(200, "", "") : refusal(s, Tier::kStandard);
  });
  for (std::string prefix : {"/v2/models/{model}", "/v2/models/{model}/versions/{version}"}) {
    router.get(prefix, [this](const Request& r) { return model_info(r, ""); });
    router.get(prefix + "/config", [this](const Request& r) { return model_info(r, "config"); });
    router.get(prefix + "/ready", [this](const Request& r) {
      return manager_.has_model(r.param("model")) ? Response::text(200, "", "")
                                                   : Response::error(404, "unknown model '" + r.param("model") + "'");
    });
    router.post(prefix + "/infer", [this](const Request& r) { return infer(r); });
  }
  router.get("/admin/models", [this](const Request&) { return Response::json(200, manager_.describe()); });
  router.post("/admin/models/{model}/prewarm", [this](const Request& r) { return admin_move(r, true); });
  router.post("/admin/models/{model}/drain", [this](const Request& r) { return admin_move(r, false); });
  return router;
}

}  // namespace thaw::gateway
