// The Generator interface: a loaded generative (text-in, tokens-out) model that several requests
// share. A backend that generates text returns one from Backend::generator(); the worker's
// OpenAI-compatible routes talk only to this interface and never name a runtime.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace thaw::engine {

struct ChatMessage {
  std::string role;  // system, user, assistant, tool
  std::string content;
};

// How the next token is chosen. temperature 0: greedy (argmax); else top-p then temperature then a
// seeded draw.
struct SamplingParams {
  float temperature = 1.0f;
  float top_p = 1.0f;
  std::optional<uint64_t> seed;  // unset: a fresh random seed per request
};

struct GenerateRequest {
  std::string prompt;  // text; the chat template is applied before (apply_chat_template)
  uint32_t max_tokens = 16;
  std::vector<std::string> stop;  // generation ends before the first of these appears in the output
  SamplingParams sampling;
  bool ignore_eos = false;  // generate max_tokens even past the model's end token (benchmarks)
};

// One step of a generation, delivered in order. `text` is never a partial UTF-8 sequence and never
// holds the start of a stop string that may still complete.
struct GenerationEvent {
  std::string text;
  bool done = false;
  std::string finish_reason;  // when done: "stop" (end token or stop string), "length", "cancelled", "error"
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;  // of prompt_tokens, those whose KV a prompt cache gave
  Status error;  // finish_reason "error": what went wrong
};

// Receives the events of one generation on the generator's own thread; must not block. A request
// is finished after the event with done = true, and the sink is not called again.
using GenerationSink = std::function<void(GenerationEvent)>;

// A submitted generation. Dropping the handle does not cancel it; cancel() does (the client went
// away): its slot is freed before the next decoding step.
class Generation {
 public:
  virtual ~Generation() = default;
  virtual void cancel() = 0;
};

struct GeneratorInfo {
  std::string architecture;     // e.g. "qwen2"
  uint32_t context_length = 0;  // tokens one sequence holds (prompt + completion)
  uint32_t slots = 1;           // sequences decoded together (continuous batching)
  uint32_t queue_limit = 0;     // waiting requests beyond the slots; more are refused
  uint32_t default_max_tokens = 256;
  SamplingParams defaults;  // from the model's generation config
};

class Generator {
 public:
  virtual ~Generator() = default;
  virtual const GeneratorInfo& info() const = 0;
  // The prompt the model's chat template makes of `messages`, ending with the assistant's turn.
  // kInvalidArgument for messages the template cannot render.
  virtual Result<std::string> apply_chat_template(const std::vector<ChatMessage>& messages) const = 0;
  // Tokens of `text` as the model sees it; thread-safe.
  virtual Result<std::vector<int32_t>> tokenize(const std::string& text) const = 0;
  // Queues a generation. kInvalidArgument when the prompt and max_tokens do not fit the context;
  // kResourceExhausted when every slot and queue place is taken. Thread-safe; the sink is called
  // from the generator's thread, which starts on the first submit (never before: a loaded
  // generator holds no thread, so a zygote may fork it).
  virtual Result<std::shared_ptr<Generation>> submit(GenerateRequest request, GenerationSink sink) = 0;
  // Runs the model's warm-up prompts (from its bundle) to completion on the calling thread, so that
  // no generator thread is started; does nothing once requests are being served.
  virtual Status warm_up() = 0;
};

}  // namespace thaw::engine
