#include "gateway/gateway.h"

#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/json_limits.h"
#include "gateway/openai_proxy.h"
#include "gateway/proxy.h"
#include "http/content_coding.h"
#include "protocol/worker_protocol.h"

namespace thaw::gateway {

using http::Request;
using http::Responder;
using http::Response;
using json = nlohmann::json;
using manager::Tier;
using policy::Rung;

namespace {

// Admin and repository bodies are a few keys: parsed under small bounds (discarded when over).
json parse_admin_body(const std::string& body) {
  auto j = parse_json_bounded(body, JsonLimits{.max_depth = 16, .max_values = 4096});
  return j.is_ok() ? std::move(j).value() : json(json::value_t::discarded);
}

Result<Rung> parse_rung_body(const std::string& body, Rung fallback) {
  if (body.empty()) return fallback;
  json j = parse_admin_body(body);
  if (j.is_discarded() || !j.is_object()) return make_error(Code::kInvalidArgument, "body must be a JSON object");
  if (!j.contains("rung")) return fallback;
  if (!j["rung"].is_string()) return make_error(Code::kInvalidArgument, "'rung' must be a string");
  std::string name = j["rung"].get<std::string>();
  for (Rung r : policy::kAllRungs)
    if (policy::rung_name(r) == name) return r;
  return make_error(Code::kInvalidArgument, "unknown rung '{}'; use warm, zygote, page_cache or disk", name);
}

constexpr uint64_t kMaxAdminBody = 1 << 20;  // admin and repository bodies are small JSON

Response unknown_model(const std::string& model) {
  return Response::error(404, "unknown model '" + model + "'; POST /v2/repository/index lists the models");
}

}  // namespace

Gateway::Gateway(manager::Manager& manager, std::unique_ptr<Access> access, std::string version)
    : manager_(manager),
      access_(access ? std::move(access) : std::make_unique<Access>(AccessOptions{}, own_clock_)),
      version_(std::move(version)),
      metrics_(manager.model_names()) {
  for (const auto& name : manager.model_names()) stats_[name] = std::make_unique<http::InferenceStats>();
}

http::InferenceStats* Gateway::stats_for(const std::string& model) const {
  auto it = stats_.find(model);
  return it == stats_.end() ? nullptr : it->second.get();
}

std::optional<Response> Gateway::check_model(const Request& r) const {
  const std::string& model = r.param("model");
  const manager::ModelConfig* config = manager_.model_config(model);
  if (config == nullptr) {
    if (auto refused = manager_.refusal(model)) return refusal(*refused, Tier::kStandard);
    return unknown_model(model);
  }
  const std::string& version = r.param("version");
  const std::string serving = manager_.model_version(model);
  if (!version.empty() && version != serving)
    return Response::error(404, "model '" + model + "' has no version '" + version + "'; it has '" + serving + "'");
  return std::nullopt;
}

std::optional<Response> Gateway::decode_body(Request& r) const {
  Status s = http::decode_request_body(r, kMaxAdminBody);
  if (!s.is_ok()) return http::content_coding_error(s);
  return std::nullopt;
}

void Gateway::set_server(const http::Server* server) {
  server_ = server;
  pools_.clear();
  for (int i = 0; i < server->loop_count(); ++i) pools_.push_back(std::make_unique<UpstreamPool>());
}

UpstreamPool* Gateway::pool_for(const http::Loop& loop) {
  const int i = loop.index();
  return i >= 0 && static_cast<size_t>(i) < pools_.size() ? pools_[static_cast<size_t>(i)].get() : nullptr;
}

void Gateway::cache_info(const std::string& key, const Response& response) {
  std::lock_guard lock(cache_mu_);
  info_cache_[key] = response;
}

void Gateway::add(http::Router& router, std::string method, std::string_view pattern, RouteKind kind,
                  Guarded handler) {
  if ((building_ == Routes::kPublic && kind == RouteKind::kAdmin) || (building_ == Routes::kAdmin && kind != RouteKind::kAdmin))
    return;
  router.add_async(std::move(method), pattern,
                   [this, kind, handler = std::move(handler)](Request& r, Responder responder) {
                     Access::Decision d = access_->admit(kind, r);
                     if (d.refusal) {
                       responder.send(std::move(*d.refusal));
                       return;
                     }
                     if (std::string_view name = d.caller.name(); !name.empty()) responder.set_user(std::string(name));
                     handler(r, std::move(responder), d.caller);
                   });
}

void Gateway::add_sync(http::Router& router, std::string method, std::string_view pattern, RouteKind kind,
                       std::function<Response(Request&)> handler) {
  add(router, std::move(method), pattern, kind,
      [handler = std::move(handler)](Request& r, Responder responder, const Caller&) { responder.send(handler(r)); });
}

void Gateway::infer(Request& r, Responder responder, const Caller& caller, bool openai, bool generate) {
  const std::string& model = r.param("model");
  Tier tier = Tier::kStandard;
  if (auto refused = access_->tier_for(caller, r, &tier)) {
    responder.send(std::move(*refused));
    return;
  }
  if (auto err = check_model(r)) {
    responder.send(std::move(*err));
    return;
  }
  const manager::ModelConfig* config = manager_.model_config(model);
  auto call = std::make_shared<ProxyCall>(std::move(responder));
  call->gateway = this;
  call->model = model;
  call->serving = model;
  call->tier = tier;
  call->show_internals = caller.admin;
  call->upstream.method = "POST";
  call->upstream.target = r.target;
  // The version was checked above against the one served; the instance answers for its model
  // whatever its bundle's manifest calls the version (a version is what its source calls it).
  if (!r.param("version").empty()) call->upstream.target = protocol::infer_path(model);
  for (const char* name : {"Content-Type", "Inference-Header-Content-Length", "Accept", "Content-Encoding"})
    if (auto v = r.header(name)) call->upstream.headers.emplace_back(name, std::string(*v));
  // A cold model with a student: the student answers while the model starts.
  if (!config->student.empty() && !generate && !manager_.has_instance(model, tier)) {
    manager_.start_in_background(model);
    call->serving = config->student;
    if (openai)
      r.body = with_model(r.body, config->student);
    else
      call->upstream.target = protocol::infer_path(config->student);
    metrics_.student_answer(model);
  }
  call->upstream.body = std::move(r.body);
  call->start();
}

void Gateway::model_info(Request& r, Responder responder, const std::string& suffix, const Caller& caller) {
  const std::string& model = r.param("model");
  if (auto err = check_model(r)) {
    responder.send(std::move(*err));
    return;
  }
  const std::string key = model + "|" + r.param("version") + "|" + suffix;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = info_cache_.find(key); it != info_cache_.end()) {
      responder.send(it->second);
      return;
    }
  }
  auto call = std::make_shared<ProxyCall>(std::move(responder));
  call->gateway = this;
  call->model = model;
  call->serving = model;
  call->upstream.method = "GET";
  call->upstream.target = r.path;
  call->cache_key = key;
  call->count_metrics = false;
  call->show_internals = caller.admin;
  call->start();
}

void Gateway::admin_move(Request& r, Responder responder, bool prewarm) {
  const std::string model = r.param("model");
  if (auto err = decode_body(r)) {
    responder.send(std::move(*err));
    return;
  }
  auto rung = parse_rung_body(r.body, prewarm ? Rung::kWarm : Rung::kDisk);
  if (!rung.is_ok()) {
    responder.send(Response::from_status(rung.status()));
    return;
  }
  if (*rung == Rung::kRegistry) {
    responder.send(Response::error(400, "no hold reaches the registry rung: a fetched model falls to it when the "
                                        "model store's disk budget evicts its local copy"));
    return;
  }
  if (prewarm && *rung == Rung::kDisk) {
    responder.send(Response::error(400, "prewarm goes up the ladder: use warm, zygote or page_cache"));
    return;
  }
  if (!prewarm && *rung == Rung::kWarm) {
    responder.send(Response::error(400, "drain goes down the ladder: use zygote, page_cache or disk"));
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  manager_.hold(model, *rung, [responder, model, rung = *rung, t0](Status s) {
    if (!s.is_ok()) {
      responder.send(s.code() == Code::kNotFound ? Response::error(404, s.message()) : refusal(s, Tier::kStandard));
      return;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    responder.send(Response::json(200, {{"model", model}, {"rung", policy::rung_name(rung)}, {"seconds", seconds}}));
  });
}

void Gateway::admin_publish(Request& r, Responder responder) {
  const std::string model = r.param("model");
  if (auto err = decode_body(r)) {
    responder.send(std::move(*err));
    return;
  }
  json j = parse_admin_body(r.body);
  if (j.is_discarded() || !j.is_object() || !j.contains("source") || !j["source"].is_string() ||
      (j.contains("sha256") && !j["sha256"].is_string()) ||
      (j.contains("canary_percent") && (!j["canary_percent"].is_number_integer() || j["canary_percent"].get<int64_t>() < 0 ||
                                        j["canary_percent"].get<int64_t>() > 100))) {
    responder.send(Response::error(400, "the body must be {\"source\": \"http://HOST:PORT/models/NAME/VERSION\"} "
                                        "with an optional \"sha256\" and \"canary_percent\" (0-100)"));
    return;
  }
  const int canary = j.contains("canary_percent") ? j["canary_percent"].get<int>() : 0;
  const std::string source = j["source"].get<std::string>();
  const std::string sha = j.value("sha256", "");
  const auto t0 = std::chrono::steady_clock::now();
  manager_.publish_version(
      model, source, sha,
      [this, responder, model, source, t0](Status s) {
        if (!s.is_ok()) {
          responder.send(Response::from_status(s));
          return;
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        responder.send(Response::json(200, {{"model", model},
                                            {"version", manager_.model_version(model)},
                                            {"source", source},
                                            {"seconds", seconds}}));
      },
      canary);
}

void Gateway::repository_load(Request& r, Responder responder, bool load) {
  if (auto err = decode_body(r)) {
    responder.send(std::move(*err));
    return;
  }
  if (!r.body.empty()) {
    json j = parse_admin_body(r.body);
    if (j.is_discarded() || !j.is_object()) {
      responder.send(Response::error(400, "the body must be a JSON object"));
      return;
    }
    // Triton's load can carry a new configuration or model files; refuse what is not done rather
    // than answer 200 and ignore it.
    if (j.contains("parameters")) {
      if (!j["parameters"].is_object()) {
        responder.send(Response::error(400, "'parameters' must be an object"));
        return;
      }
      for (const auto& [key, value] : j["parameters"].items()) {
        // Unload's unload_dependents: a thaw model has no dependents, so either value means the same.
        if (!load && key == "unload_dependents" && value.is_boolean()) continue;
        responder.send(Response::error(400, "parameter '" + key + "' is not supported by thaw serve: a model's "
                                            "configuration and files come from its bundle"));
        return;
      }
    }
  }
  auto done = [responder](Status s) {
    responder.send(s.is_ok() ? Response::text(200, "", "") : refusal(s, Tier::kStandard));
  };
  if (!manager_.has_model(r.param("model"))) {
    responder.send(unknown_model(r.param("model")));
    return;
  }
  if (load)
    manager_.load(r.param("model"), done);
  else
    manager_.unload(r.param("model"), done);
}

http::Router Gateway::router(Routes which) {
  building_ = which;
  http::Router router;
  router.get("/v2", [this](const Request&) {
    return Response::json(200, {{"name", "thaw"}, {"version", version_},
                                {"extensions", {"binary_tensor_data", "model_repository", "statistics"}}});
  });
  router.get("/v2/health/live", [](const Request&) { return Response::json(200, {{"live", true}}); });
  router.get("/v2/health/ready", [this](const Request&) {
    return draining_ ? Response::json(503, {{"ready", false}, {"error", "shutting down"}})
                     : Response::json(200, {{"ready", true}});
  });
  router.get("/metrics", [this](const Request&) {
    return Response::text(200, metrics_.render(manager_, server_), std::string(http::kPrometheusContentType));
  });
  add_sync(router, "GET", "/v2/models/stats", RouteKind::kInference, [this](Request&) {
    json all = json::array();
    for (const auto& [name, stats] : stats_) all.push_back(stats->to_json(name, manager_.model_version(name)));
    return Response::json(200, {{"model_stats", all}});
  });
  add_sync(router, "POST", "/v2/repository/index", RouteKind::kAdmin, [this](Request& r) {
    // Triton's index takes {"ready": bool}: true lists only the models that can serve now.
    if (auto err = decode_body(r)) return *err;
    bool ready_only = false;
    if (!r.body.empty()) {
      json j = parse_admin_body(r.body);
      if (j.is_discarded() || !j.is_object()) return Response::error(400, "the body must be a JSON object");
      if (j.contains("ready")) {
        if (!j["ready"].is_boolean()) return Response::error(400, "'ready' must be true or false");
        ready_only = j["ready"].get<bool>();
      }
    }
    json out = json::array();
    const json described = manager_.describe();  // a range-for over a member of a temporary dangles
    for (const auto& m : described["models"]) {
      const bool unloaded = m.value("unloaded", false);
      if (ready_only && unloaded) continue;
      // Every model that is not unloaded can serve: a cold one starts on its first request.
      out.push_back({{"name", m["name"]}, {"version", m["version"]}, {"state", unloaded ? "UNAVAILABLE" : "READY"},
                     {"reason", unloaded ? "unloaded" : "rung " + m["rung"].get<std::string>()}});
    }
    // Bundles refused at start are listed as Triton lists models that failed to load.
    if (!ready_only)
      for (const auto& m : described["refused"])
        out.push_back({{"name", m["name"]}, {"state", "UNAVAILABLE"}, {"reason", m["error"]}});
    return Response::json(200, out);
  });
  add(router, "POST", "/v2/repository/models/{model}/load", RouteKind::kAdmin,
      [this](Request& r, Responder resp, const Caller&) { repository_load(r, std::move(resp), true); });
  add(router, "POST", "/v2/repository/models/{model}/unload", RouteKind::kAdmin,
      [this](Request& r, Responder resp, const Caller&) { repository_load(r, std::move(resp), false); });
  for (std::string prefix : {"/v2/models/{model}", "/v2/models/{model}/versions/{version}"}) {
    add(router, "GET", prefix, RouteKind::kInference,
        [this](Request& r, Responder resp, const Caller& c) { model_info(r, std::move(resp), "", c); });
    add(router, "GET", prefix + "/config", RouteKind::kInference,
        [this](Request& r, Responder resp, const Caller& c) { model_info(r, std::move(resp), "config", c); });
    add_sync(router, "GET", prefix + "/ready", RouteKind::kInference, [this](Request& r) {
      if (auto err = check_model(r)) return *err;
      const std::string& model = r.param("model");
      if (manager_.unloaded(model))
        return Response::json(503, {{"name", model}, {"ready", false}, {"error", "the model is unloaded"}});
      // A cold model is ready too: its first request starts it.
      return Response::json(200, {{"name", model}, {"ready", true}});
    });
    add_sync(router, "GET", prefix + "/stats", RouteKind::kInference, [this](Request& r) {
      if (auto err = check_model(r)) return *err;
      const std::string& model = r.param("model");
      return Response::json(200, {{"model_stats", json::array({stats_for(model)->to_json(model, manager_.model_version(model))})}});
    });
    add(router, "POST", prefix + "/infer", RouteKind::kInference,
        [this](Request& r, Responder resp, const Caller& c) { infer(r, std::move(resp), c); });
    // KServe's generate extension, forwarded as is (a student is not substituted: its path names it).
    for (const char* suffix : {"/generate", "/generate_stream"})
      add(router, "POST", prefix + suffix, RouteKind::kInference,
          [this](Request& r, Responder resp, const Caller& c) { infer(r, std::move(resp), c, /*openai=*/false, /*generate=*/true); });
  }
  add_openai_routes(router);
  add_sync(router, "GET", "/admin/models", RouteKind::kAdmin,
           [this](Request&) { return Response::json(200, manager_.describe()); });
  // The rung costs measured so far, as a profile `thaw sim --profile` reads.
  add_sync(router, "GET", "/admin/profile", RouteKind::kAdmin,
           [this](Request&) { return Response::text(200, manager_.profile_yaml(), "application/yaml"); });
  add(router, "POST", "/admin/models/{model}/prewarm", RouteKind::kAdmin,
      [this](Request& r, Responder resp, const Caller&) { admin_move(r, std::move(resp), true); });
  add(router, "POST", "/admin/models/{model}/drain", RouteKind::kAdmin,
      [this](Request& r, Responder resp, const Caller&) { admin_move(r, std::move(resp), false); });
  add(router, "POST", "/admin/models/{model}/versions", RouteKind::kAdmin,
      [this](Request& r, Responder resp, const Caller&) { admin_publish(r, std::move(resp)); });
  return router;
}

}  // namespace thaw::gateway
