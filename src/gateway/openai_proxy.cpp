#include "gateway/openai_proxy.h"

#include <nlohmann/json.hpp>

#include "common/json_limits.h"
#include "gateway/gateway.h"
#include "http/content_coding.h"
#include "protocol/openai_error.h"

namespace thaw::gateway {
namespace {

using http::Request;
using http::Responder;
using http::Response;
using json = nlohmann::json;

constexpr uint64_t kMaxOpenAIBody = 64ull << 20;

}  // namespace

Result<std::string> openai_model(std::string_view body) {
  THAW_ASSIGN_OR_RETURN(json j, parse_json_bounded(body, JsonLimits{}));
  if (!j.is_object()) return Status(Code::kInvalidArgument, "the request body must be a JSON object");
  auto it = j.find("model");
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty())
    return Status(Code::kInvalidArgument,
                  "'model' is required: the name of the model to run (GET /v1/models lists them)");
  return it->get<std::string>();
}

std::string with_model(std::string_view body, const std::string& model) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return std::string(body);
  j["model"] = model;
  return j.dump();
}

void Gateway::openai(Request& r, Responder responder, const Caller& caller) {
  // Refusals made here and in the shared proxy path (tiers, queue limits, timeouts, a start that
  // failed) reach OpenAI clients in the shape they read.
  responder.set_error_format(protocol::to_openai_error);
  if (Status s = http::decode_request_body(r, kMaxOpenAIBody); !s.is_ok()) {
    responder.send(http::content_coding_error(s));
    return;
  }
  auto model = openai_model(r.body);
  if (!model.is_ok()) {
    responder.send(protocol::openai_error_response(http::http_status_for(model.status().code()), model.status().message()));
    return;
  }
  if (!manager_.has_model(*model) && !manager_.refusal(*model)) {
    responder.send(
        protocol::openai_error_response(404, "model '" + *model + "' does not exist; GET /v1/models lists the models"));
    return;
  }
  r.params["model"] = *model;
  infer(r, std::move(responder), caller, /*openai=*/true);
}

void Gateway::add_openai_routes(http::Router& router) {
  for (const char* path : {"/v1/completions", "/v1/chat/completions", "/v1/embeddings"})
    add(router, "POST", path, RouteKind::kInference,
        [this](Request& r, Responder resp, const Caller& c) { openai(r, std::move(resp), c); });
  add_sync(router, "GET", "/v1/models", RouteKind::kInference, [this](Request&) {
    json data = json::array();
    for (const std::string& name : manager_.model_names())
      data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "thaw"}});
    return Response::json(200, {{"object", "list"}, {"data", data}});
  });
}

}  // namespace thaw::gateway
