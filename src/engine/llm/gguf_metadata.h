// What thaw reads from a GGUF file's header at pack time: the architecture, context length,
// tokenizer and chat template, and sampling defaults when the file has them. Parsed by ggml's own
// GGUF reader (gguf.h), so it needs llama.cpp in the build.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"

namespace thaw::engine {

struct GgufMetadata {
  std::string architecture;     // general.architecture, e.g. "qwen2"
  std::string name;             // general.name, may be empty
  uint64_t context_length = 0;  // <arch>.context_length; 0: absent
  uint64_t parameters = 0;      // sum of the tensors' elements
  uint64_t tensor_bytes = 0;
  std::string tokenizer_model;  // tokenizer.ggml.model, e.g. "gpt2"
  std::string tokenizer_pre;    // tokenizer.ggml.pre, e.g. "qwen2"
  uint64_t vocab_size = 0;
  std::string chat_template;                // tokenizer.chat_template, may be empty
  std::optional<float> temperature, top_p;  // general.sampling.*
};

// kInvalidArgument when `path` is not a GGUF file ggml can read.
Result<GgufMetadata> read_gguf_metadata(const std::string& path);

}  // namespace thaw::engine
