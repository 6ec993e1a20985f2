// Answers one HTTP request with a generation: submits it to the model's Generator and turns its
// events into a whole response or a stream (Server-Sent Events), in whichever wire format the route
// speaks (OpenAI, KServe generate). A client that goes away cancels the generation.
#pragma once

#include <functional>
#include <string>

#include "engine/generator.h"
#include "http/responder.h"
#include "worker/model_service.h"

namespace thaw::worker {

// How a route's answers look on the wire.
struct AnswerFormat {
  // Streams: the events sent before any text (may be empty), one text piece, and the end (the last
  // event's finish reason and usage; it ends the stream, e.g. with "data: [DONE]").
  std::function<std::string()> stream_start;
  std::function<std::string(const std::string& text)> stream_piece;
  std::function<std::string(const engine::GenerationEvent& last)> stream_end;
  // An error after the stream began (the status line is sent): its events.
  std::function<std::string(std::string_view message)> stream_error;
  // Not streamed: the whole answer, or an error response.
  std::function<http::Response(const std::string& text, const engine::GenerationEvent& last)> whole;
  std::function<http::Response(int status, std::string_view message)> error;
};

// Submits `request` and answers through `responder`. Refusals (prompt too long, queue full) are
// answered at once with format.error; every outcome is counted on `service`.
void answer_generation(ModelService* service, engine::GenerateRequest request, bool stream,
                       AnswerFormat format, const http::Responder& responder);

// The HTTP status for a generator's refusal: 429 for a full queue, else the code's status.
int generation_refusal_status(const Status& s);

}  // namespace thaw::worker
