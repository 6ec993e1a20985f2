// The OpenAI-compatible wire format of /v1/completions and /v1/chat/completions: requests checked
// into an engine::GenerateRequest (every bad field a kInvalidArgument naming it), and answers,
// whole or as Server-Sent Events chunks. Pure code: no model, no clock (callers pass `created`).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_limits.h"
#include "common/status.h"
#include "engine/generator.h"
#include "protocol/openai_error.h"

namespace thaw::worker {

enum class CompletionKind { kText, kChat };

struct CompletionRequest {
  CompletionKind kind = CompletionKind::kText;
  std::optional<std::string> model;           // as the client named it
  std::vector<engine::ChatMessage> messages;  // kChat
  engine::GenerateRequest generate;           // prompt (kText), max_tokens, stop, sampling
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

struct CompletionLimits {
  uint32_t context_length = 4096;  // max_tokens above this is refused at once
  uint32_t default_max_tokens = 256;
  engine::SamplingParams defaults;  // when the request names none
  size_t max_stop = 4;              // stop strings per request, as OpenAI allows
  size_t max_stop_bytes = 256;
  size_t max_messages = 1024;
  JsonLimits json;
};

// Parses and checks a request body. Unknown fields are ignored (clients send many); fields thaw
// does not implement with a non-default value (n > 1, logprobs, tools...) are refused by name.
Result<CompletionRequest> parse_completion_request(std::string_view body, CompletionKind kind,
                                                   const CompletionLimits& limits);

// What identifies one answer in every chunk.
struct CompletionIds {
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  std::string model;
  int64_t created = 0;  // Unix seconds
};

struct Usage {
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;  // of prompt_tokens: from the prompt cache (prompt_tokens_details)
};

// The whole (non-streamed) answer.
nlohmann::json completion_response(CompletionKind kind, const CompletionIds& ids, const std::string& text,
                                   const std::string& finish_reason, const Usage& usage);
// One SSE event "data: {...}\n\n": a piece of text (finish_reason empty), the first chat chunk
// (role only: text empty, finish_reason empty, `role_only`), or the last (finish_reason set).
std::string completion_chunk(CompletionKind kind, const CompletionIds& ids, const std::string& text,
                             const std::string& finish_reason, bool role_only = false);
// The usage chunk (stream_options.include_usage): empty choices.
std::string usage_chunk(CompletionKind kind, const CompletionIds& ids, const Usage& usage);
// An error in a stream that has begun, then the end marker.
std::string error_event(std::string_view message);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

using protocol::openai_error;
using protocol::openai_error_response;

}  // namespace thaw::worker
