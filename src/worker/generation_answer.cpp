#include "worker/generation_answer.h"

#include <chrono>
#include <mutex>
#include <vector>

namespace thaw::worker {
namespace {

// One answer in flight: the generator's events (on its thread) turned into writes.
struct Answer {
  Answer(http::Responder r, ModelService* s, AnswerFormat f, bool st)
      : responder(std::move(r)), service(s), format(std::move(f)), stream(st) {}
  http::Responder responder;
  ModelService* service;
  AnswerFormat format;
  bool stream;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  std::mutex mu;
  bool begun = false;  // stream head sent; events before it wait in `early`
  std::vector<engine::GenerationEvent> early;
  std::string text;  // gathered (not streamed)

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
      if (!e.done || e.finish_reason == "cancelled") return;  // cancelled: the client is gone
      if (e.finish_reason == "error") {
        outcome(500);
        responder.send(format.error(500, "generation failed: " + e.error.message()));
        return;
      }
      outcome(200);
      responder.send(format.whole(text, e));
      return;
    }
    if (!e.text.empty()) responder.write(format.stream_piece(e.text));
    if (!e.done) return;
    if (e.finish_reason == "cancelled") {
      responder.abort();
      return;
    }
    if (e.finish_reason == "error") {
      outcome(500);
      responder.write(format.stream_error("generation failed: " + e.error.message()));
    } else {
      outcome(200);
      responder.write(format.stream_end(e));
    }
    responder.finish();
  }

  void outcome(int status) { service->record_outcome(status, std::chrono::steady_clock::now() - start); }
};

}  // namespace

int generation_refusal_status(const Status& s) {
  return s.code() == Code::kResourceExhausted ? 429 : http::http_status_for(s.code());
}

void answer_generation(ModelService* service, engine::GenerateRequest request, bool stream,
                       AnswerFormat format, const http::Responder& responder) {
  auto answer = std::make_shared<Answer>(responder, service, std::move(format), stream);
  auto generation = service->generator()->submit(
      std::move(request), [answer](engine::GenerationEvent e) { answer->on_event(std::move(e)); });
  if (!generation.is_ok()) {
    const int status = generation_refusal_status(generation.status());
    service->record_outcome(status, std::chrono::nanoseconds(0));
    responder.send(answer->format.error(status, generation.status().message()));
    return;
  }
  responder.on_cancel([g = *generation] { g->cancel(); });
  if (!stream) return;
  std::lock_guard lock(answer->mu);
  http::ResponseHead head;
  head.content_type = "text/event-stream";
  head.headers.emplace_back("Cache-Control", "no-cache");
  responder.begin(std::move(head));
  if (answer->format.stream_start)
    if (std::string first = answer->format.stream_start(); !first.empty()) responder.write(std::move(first));
  answer->begun = true;
  for (engine::GenerationEvent& e : answer->early) answer->deliver(std::move(e));
  answer->early.clear();
}

}  // namespace thaw::worker
