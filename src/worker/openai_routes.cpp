#include "worker/openai_routes.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "worker/generation_answer.h"
#include "worker/openai_codec.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;

http::Response error_response(int status, std::string_view message) { return openai_error_response(status, message); }
http::Response error_response(const Status& s) {
  return openai_error_response(http::http_status_for(s.code()), s.message());
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string next_id(CompletionKind kind) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1) ^ (static_cast<uint64_t>(::getpid()) << 40);
  return fmt::format("{}-{:016x}", kind == CompletionKind::kChat ? "chatcmpl" : "cmpl", n);
}

void handle_completion(ModelService* s, CompletionKind kind, http::Request& request,
                       const http::Responder& res) {
  engine::Generator* gen = s->generator();
  const auto refuse = [&](const http::Response& r) {
    s->record_outcome(r.status, std::chrono::nanoseconds(0));
    res.send(r);
  };
  if (!s->ready())
    return refuse(error_response(503, fmt::format("model '{}' is warming up; retry shortly", s->name())));
  const engine::GeneratorInfo& info = gen->info();
  CompletionLimits limits;
  limits.context_length = info.context_length;
  limits.default_max_tokens = std::min(info.default_max_tokens, info.context_length);
  limits.defaults = info.defaults;
  auto parsed = parse_completion_request(request.body, kind, limits);
  if (!parsed.is_ok()) return refuse(error_response(parsed.status()));
  CompletionRequest& req = *parsed;
  if (req.model && *req.model != s->name())
    return refuse(error_response(
        404, fmt::format("model '{}' does not exist; this server has '{}'", *req.model, s->name())));
  if (kind == CompletionKind::kChat) {
    auto prompt = gen->apply_chat_template(req.messages);
    if (!prompt.is_ok()) return refuse(error_response(prompt.status()));
    req.generate.prompt = std::move(prompt).value();
  }

  const CompletionIds ids{next_id(kind), s->name(), unix_now()};
  AnswerFormat format;
  if (kind == CompletionKind::kChat)
    format.stream_start = [kind, ids] { return completion_chunk(kind, ids, "", "", /*role_only=*/true); };
  format.stream_piece = [kind, ids](const std::string& text) {
    return completion_chunk(kind, ids, text, "");
  };
  format.stream_end = [kind, ids, usage = req.include_usage](const engine::GenerationEvent& e) {
    std::string tail = completion_chunk(kind, ids, "", e.finish_reason);
    if (usage) tail += usage_chunk(kind, ids, {e.prompt_tokens, e.completion_tokens, e.cached_tokens});
    return tail + std::string(kDoneEvent);
  };
  format.stream_error = [](std::string_view message) { return error_event(message); };
  format.whole = [kind, ids](const std::string& text, const engine::GenerationEvent& e) {
    return http::Response::json(
        200, completion_response(kind, ids, text, e.finish_reason, {e.prompt_tokens, e.completion_tokens, e.cached_tokens}));
  };
  format.error = [](int status, std::string_view message) { return error_response(status, message); };
  answer_generation(s, std::move(req.generate), req.stream, std::move(format), res);
}

json model_card(const ModelService& s) {
  const auto& info = s.generator()->info();
  return {{"id", s.name()},
          {"object", "model"},
          {"created", 0},
          {"owned_by", "thaw"},
          {"context_length", info.context_length},
          {"architecture", info.architecture}};
}

}  // namespace

void add_openai_routes(http::Router& router, ModelService* s) {
  if (s->generator() == nullptr) return;
  router.add_async("POST", "/v1/completions", [s](http::Request& r, http::Responder res) {
    handle_completion(s, CompletionKind::kText, r, res);
  });
  router.add_async("POST", "/v1/chat/completions", [s](http::Request& r, http::Responder res) {
    handle_completion(s, CompletionKind::kChat, r, res);
  });
  router.get("/v1/models", [s](const http::Request&) {
    return http::Response::json(200, {{"object", "list"}, {"data", json::array({model_card(*s)})}});
  });
  router.get("/v1/models/{model}", [s](const http::Request& r) {
    if (r.param("model") != s->name())
      return error_response(
          404, fmt::format("model '{}' does not exist; this server has '{}'", r.param("model"), s->name()));
    return http::Response::json(200, model_card(*s));
  });
}

}  // namespace thaw::worker
