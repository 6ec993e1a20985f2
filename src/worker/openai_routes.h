// The worker's OpenAI-compatible routes for a generative model:
//   POST /v1/completions, POST /v1/chat/completions   (stream: Server-Sent Events)
//   GET  /v1/models, GET /v1/models/{model}
// A request names the model in its body's "model" (optional here: a worker serves one model; a
// different name is 404). Errors are OpenAI's {"error": {"message", "type", ...}} bodies. A client
// that goes away mid-answer cancels its generation: the slot is freed before the next step.
#pragma once

#include "http/router.h"
#include "worker/model_service.h"

namespace thaw::worker {

// Adds the routes when the service's model generates text (ModelService::generator()).
void add_openai_routes(http::Router& router, ModelService* service);

}  // namespace thaw::worker
