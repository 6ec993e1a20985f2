#include "worker/kserve_generate.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "protocol/worker_protocol.h"
#include "worker/generation_answer.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;

std::string sse(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

void handle_generate(ModelService* s, http::Request& r, const http::Responder& res, bool stream) {
  const auto refuse = [&](const http::Response& response) {
    s->record_outcome(response.status, std::chrono::nanoseconds(0));
    res.send(response);
  };
  if (r.param("model") != s->name() || !s->serves(r.param("model"), r.param("version")))
    return refuse(
        http::Response::error(404, fmt::format("unknown model '{}'; this worker serves '{}' version '{}'",
                                               r.param("model"), s->name(), s->version())));
  if (!s->ready())
    return refuse(http::Response::error(503, fmt::format("model '{}' is warming up", s->name())));
  const engine::GeneratorInfo& info = s->generator()->info();
  CompletionLimits limits;
  limits.context_length = info.context_length;
  limits.default_max_tokens = std::min(info.default_max_tokens, info.context_length);
  limits.defaults = info.defaults;
  auto parsed = parse_generate_request(r.body, limits);
  if (!parsed.is_ok()) return refuse(http::Response::from_status(parsed.status()));
  const json head = {{"model_name", s->name()}, {"model_version", s->version()}};
  AnswerFormat f;
  f.stream_piece = [head](const std::string& text) {
    json j = head;
    j["text_output"] = text;
    return sse(j);
  };
  f.stream_end = [head](const engine::GenerationEvent& e) {
    json j = head;
    j["text_output"] = "";
    j["finish_reason"] = e.finish_reason;
    j["usage"] = {{"prompt_tokens", e.prompt_tokens}, {"completion_tokens", e.completion_tokens}};
    return sse(j);
  };
  f.stream_error = [](std::string_view message) { return sse({{"error", message}}); };
  f.whole = [head](const std::string& text, const engine::GenerationEvent& e) {
    json j = head;
    j["text_output"] = text;
    j["finish_reason"] = e.finish_reason;
    j["usage"] = {{"prompt_tokens", e.prompt_tokens}, {"completion_tokens", e.completion_tokens}};
    return http::Response::json(200, j);
  };
  f.error = [](int status, std::string_view message) { return http::Response::error(status, message); };
  answer_generation(s, std::move(parsed->generate), stream, std::move(f), res);
}

}  // namespace

Result<CompletionRequest> parse_generate_request(std::string_view body, const CompletionLimits& limits) {
  THAW_ASSIGN_OR_RETURN(json j, parse_json_bounded(body, limits.json));
  if (!j.is_object()) return Status(Code::kInvalidArgument, "the request body must be a JSON object");
  auto text = j.find("text_input");
  if (text == j.end() || !text->is_string())
    return Status(Code::kInvalidArgument, "'text_input' is required and must be a string");
  json openai = json::object();
  for (auto& [key, value] : j.items())
    if (key != "text_input" && key != "parameters" && key != "id") openai[key] = value;
  if (auto p = j.find("parameters"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return Status(Code::kInvalidArgument, "'parameters' must be an object");
    for (auto& [key, value] : p->items()) openai[key] = value;
  }
  openai.erase("stream");  // the route decides
  openai.erase("model");
  openai["prompt"] = *text;
  return parse_completion_request(openai.dump(), CompletionKind::kText, limits);
}

void add_generate_routes(http::Router& router, ModelService* s) {
  if (s->generator() == nullptr) return;
  for (std::string prefix : {std::string(protocol::kModelRoute), std::string(protocol::kModelVersionRoute)}) {
    router.add_async("POST", prefix + "/generate",
                     [s](http::Request& r, http::Responder res) { handle_generate(s, r, res, false); });
    router.add_async("POST", prefix + "/generate_stream",
                     [s](http::Request& r, http::Responder res) { handle_generate(s, r, res, true); });
  }
}

}  // namespace thaw::worker
