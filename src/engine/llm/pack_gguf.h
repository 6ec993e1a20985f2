// `thaw pack model.gguf`: the GGUF file whole as one page-aligned file of the bundle (llama.cpp
// maps it in place from the bundle), and in the manifest what serving needs without opening it:
// metadata.llm = {architecture, context_length, parameters, tokenizer {model, pre, vocab_size},
// shape {layers, embedding, heads, kv_heads, key_length, value_length} (sizes the KV cache),
// chat_template, generation {temperature, top_p, max_tokens}, warmup {prompts, max_tokens}}.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bundle/pack.h"
#include "common/status.h"

namespace thaw::engine {

struct GgufPackOptions {
  // Generation defaults when a request names none; unset: the GGUF's general.sampling.*, else
  // temperature 0.7 and top_p 0.95.
  std::optional<float> temperature, top_p;
  uint32_t max_tokens = 256;
  std::vector<std::string> warmup_prompts;  // raw prompts run before ready; empty: "Hello"
  uint32_t warmup_tokens = 1;
};

Result<std::unique_ptr<bundle::PackedModel>> pack_gguf(const std::string& path,
                                                       const GgufPackOptions& options);

}  // namespace thaw::engine
