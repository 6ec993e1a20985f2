// KServe v2's (and Triton's) generate extension for generative models:
//   POST /v2/models/{m}[/versions/{v}]/generate          {"text_input": "...", "parameters": {...}}
//   POST /v2/models/{m}[/versions/{v}]/generate_stream   the same, answered as Server-Sent Events
// Answers are {"model_name", "model_version", "text_output"} (per event when streamed, then one with
// "finish_reason" and "usage"); errors {"error": "..."} as on every KServe route. Sampling
// parameters are OpenAI's (max_tokens, temperature, top_p, stop, seed, ignore_eos), given in
// "parameters" or beside "text_input", and checked by the same parser.
#pragma once

#include <string_view>

#include "http/router.h"
#include "worker/model_service.h"
#include "worker/openai_codec.h"

namespace thaw::worker {

// A generate request as the OpenAI completion parser reads it (text_input becomes the prompt).
Result<CompletionRequest> parse_generate_request(std::string_view body, const CompletionLimits& limits);

// Adds the two routes under both model prefixes when the service's model generates text.
void add_generate_routes(http::Router& router, ModelService* service);

}  // namespace thaw::worker
