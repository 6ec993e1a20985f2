// Fuzzes the OpenAI-compatible request parser: any bytes give a request or a clean error, and a
// request it accepts satisfies the limits it was given (answers are encoded too, as the worker would).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "worker/openai_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace thaw::worker;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  CompletionLimits limits;
  limits.context_length = 512;
  limits.default_max_tokens = 16;
  for (CompletionKind kind : {CompletionKind::kText, CompletionKind::kChat}) {
    auto r = parse_completion_request(body, kind, limits);
    if (!r.is_ok()) continue;
    const auto& g = r->generate;
    if (g.max_tokens < 1 || g.max_tokens > limits.context_length) std::abort();
    if (g.stop.size() > limits.max_stop) std::abort();
    if (!(g.sampling.temperature >= 0 && g.sampling.temperature <= 2)) std::abort();
    if (!(g.sampling.top_p > 0 && g.sampling.top_p <= 1)) std::abort();
    if (kind == CompletionKind::kChat && r->messages.empty()) std::abort();
    CompletionIds ids{"x", "m", 0};
    const std::string text =
        kind == CompletionKind::kChat && !r->messages.empty() ? r->messages[0].content : g.prompt;
    (void)completion_response(kind, ids, text, "stop", {1, 2})
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    (void)completion_chunk(kind, ids, text, "");
  }
  return 0;
}
