// The llm backend's runtime: one llama.cpp model and context shared by every request of an
// instance through continuous batching. Requests wait in a bounded queue for one of `slots`
// sequences; a single decoding thread (started on the first submit, never before, so a loaded
// generator may be forked) builds one llama_batch per step from every active sequence: prompt
// chunks of new ones and the last sampled token of the others.
//
// Prompt cache: a sequence keeps its KV cache after its request ends (as llama-server's slots do).
// A new request goes to the free slot whose kept tokens share the longest prefix with its prompt,
// or has the longest such prefix copied in from any other slot, and prefills only the rest. The
// warm-up prompts are kept the same way, so a zygote's children inherit their KV: a deployment
// whose warm-up prompt is its chat template rendered with its system prompt prefills only each
// request's own messages.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/backend.h"
#include "engine/generator.h"

namespace thaw::engine {

struct LlamaOptions {
  uint32_t slots = 4;                       // sequences decoded together
  uint32_t context = 0;                     // tokens per sequence; 0: min(model's training context, 4096)
  uint32_t threads = 0;                     // compute threads per step; 0: the machine's cores
  uint32_t batch = 512;                     // tokens per decoding step (prompt chunks are cut to fit)
  uint32_t queue = 64;                      // requests waiting for a slot beyond `slots`
  std::vector<std::string> warmup_prompts;  // raw prompts (no chat template) run before ready
  uint32_t warmup_tokens = 1;
  bool prompt_cache = true;                 // reuse kept KV for a shared prompt prefix
  bool populate = false;                    // map the GGUF with MAP_POPULATE (lazy_mapping.h)
  GeneratorInfo defaults;  // default_max_tokens and sampling defaults from the manifest
};

// Loads the GGUF that starts at `offset` in the file `path` (a bundle's data section entry, used
// in place: llama.cpp maps the file itself). kInvalidArgument when it is not a model llama.cpp
// runs; kIo when the file cannot be read.
Result<std::unique_ptr<Backend>> create_llama_backend(const std::string& path, uint64_t offset,
                                                      const LlamaOptions& options);

// Whether this build has llama.cpp.
bool have_llama_runtime();

}  // namespace thaw::engine
