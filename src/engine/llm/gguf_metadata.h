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
  // The shape that sizes an instance's KV cache and compute buffers; 0: absent.
  uint64_t block_count = 0;       // <arch>.block_count
  uint64_t embedding_length = 0;  // <arch>.embedding_length
  uint64_t head_count = 0;        // <arch>.attention.head_count
  uint64_t head_count_kv = 0;     // <arch>.attention.head_count_kv, else head_count
  uint64_t key_length = 0;        // <arch>.attention.key_length, else embedding_length / head_count
  uint64_t value_length = 0;      // <arch>.attention.value_length, else key_length
};

// kInvalidArgument when `path` is not a GGUF file ggml can read.
Result<GgufMetadata> read_gguf_metadata(const std::string& path);

}  // namespace thaw::engine
