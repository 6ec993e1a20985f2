#include "worker/openai_routes.h"

#include <atomic>
#include <chrono>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "worker/openai_codec.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;

http::Response error_response(int status, std::string_view message) {
  return http::Response::json(status, openai_error(status, message));
}
http::Response error_response(const Status& s) {
  const int status = s.code() == Code::kResourceExhausted && s.message().find("slots") != std::string::npos
                         ? 429
                         : http::http_status_for(s.code());
  return error_response(status, s.message());
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string next_id(CompletionKind kind) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1) ^ (static_cast<uint64_t>(::getpid()) << 40);
  return fmt::format("{}-{:016x}", kind == CompletionKind::kChat ? "chatcmpl" : "cmpl", n);
}

// One answer in flight: what the generator's events turn into, streamed or gathered.
struct Answer {
  Answer(http::Responder r, ModelService* s, CompletionKind k, CompletionIds i, bool st, bool usage)
      : responder(std::move(r)), service(s), kind(k), ids(std::move(i)), stream(st), include_usage(usage) {}
  http::Responder responder;
  ModelService* service;
  CompletionKind kind;
  CompletionIds ids;
  bool stream;
  bool include_usage;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  std::mutex mu;
  bool begun = false;                        // stream head sent; events before it wait in `early`
  std::vector<engine::GenerationEvent> early;
  std::string text;                          // gathered (not streamed)

  void on_event(engine::GenerationEvent e) {
    std::lock_guard lock(mu);
    if (stream && !begun) {
      early.push_back(std::move(e));
      return;
    }
    deliver(std::move(e));
  }

  // Under mu.
  void deliver(engine::GenerationEvent e) {
    if (!stream) {
      text += e.text;
      if (!e.done) return;
      if (e.finish_reason == "cancelled") return;  // the client is gone
      if (e.finish_reason == "error") {
        finish_outcome(500);
        responder.send(error_response(500, "generation failed: " + e.error.message()));
        return;
      }
      finish_outcome(200);
      responder.send(http::Response::json(
          200, completion_response(kind, ids, text, e.finish_reason, {e.prompt_tokens, e.completion_tokens})));
      return;
    }
    if (!e.text.empty()) responder.write(completion_chunk(kind, ids, e.text, ""));
    if (!e.done) return;
    if (e.finish_reason == "cancelled") {
      responder.abort();
      return;
    }
    if (e.finish_reason == "error") {
      finish_outcome(500);
      responder.write(error_event("generation failed: " + e.error.message()));
      responder.finish();
      return;
    }
    std::string tail = completion_chunk(kind, ids, "", e.finish_reason);
    if (include_usage) tail += usage_chunk(kind, ids, {e.prompt_tokens, e.completion_tokens});
    tail += kDoneEvent;
    responder.write(std::move(tail));
    responder.finish();
    finish_outcome(200);
  }

  void finish_outcome(int status) {
    service->record_outcome(status, std::chrono::steady_clock::now() - start);
  }
};

void handle_completion(ModelService* s, CompletionKind kind, http::Request& request, const http::Responder& res) {
  engine::Generator* gen = s->generator();
  const auto refuse = [&](const http::Response& r) {
    s->record_outcome(r.status, std::chrono::nanoseconds(0));
    res.send(r);
  };
  if (!s->ready()) return refuse(error_response(503, fmt::format("model '{}' is warming up; retry shortly", s->name())));
  const engine::GeneratorInfo& info = gen->info();
  CompletionLimits limits;
  limits.context_length = info.context_length;
  limits.default_max_tokens = std::min(info.default_max_tokens, info.context_length);
  limits.defaults = info.defaults;
  auto parsed = parse_completion_request(request.body, kind, limits);
  if (!parsed.is_ok()) return refuse(error_response(parsed.status()));
  CompletionRequest& req = *parsed;
  if (req.model && *req.model != s->name())
    return refuse(error_response(404, fmt::format("model '{}' does not exist; this server has '{}'", *req.model, s->name())));
  if (kind == CompletionKind::kChat) {
    auto prompt = gen->apply_chat_template(req.messages);
    if (!prompt.is_ok()) return refuse(error_response(prompt.status()));
    req.generate.prompt = std::move(prompt).value();
  }

  auto answer = std::make_shared<Answer>(res, s, kind, CompletionIds{next_id(kind), s->name(), unix_now()},
                                         req.stream, req.include_usage);
  auto generation = gen->submit(std::move(req.generate), [answer](engine::GenerationEvent e) { answer->on_event(std::move(e)); });
  if (!generation.is_ok()) return refuse(error_response(generation.status()));
  res.on_cancel([g = *generation] { g->cancel(); });
  if (!answer->stream) return;
  std::lock_guard lock(answer->mu);
  http::ResponseHead head;
  head.content_type = "text/event-stream";
  head.headers.emplace_back("Cache-Control", "no-cache");
  res.begin(std::move(head));
  if (kind == CompletionKind::kChat) res.write(completion_chunk(kind, answer->ids, "", "", /*role_only=*/true));
  answer->begun = true;
  for (engine::GenerationEvent& e : answer->early) answer->deliver(std::move(e));
  answer->early.clear();
}

json model_card(const ModelService& s) {
  const auto& info = s.generator()->info();
  return {{"id", s.name()}, {"object", "model"}, {"created", 0}, {"owned_by", "thaw"},
          {"context_length", info.context_length}, {"architecture", info.architecture}};
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
      return error_response(404, fmt::format("model '{}' does not exist; this server has '{}'", r.param("model"), s->name()));
    return http::Response::json(200, model_card(*s));
  });
}

}  // namespace thaw::worker
