// What a fresh llm instance adds to memory before the manager has measured one (the load plan's
// start_bytes): the GGUF's pages, the KV cache llama.cpp allocates and clears for every slot's
// context, the compute and logits buffers of one step, and the process itself. From the manifest's
// metadata.llm alone, so the manager can plan without a runtime.
#pragma once

#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace thaw::engine {

// `llm` is a manifest's metadata.llm; `slots` and `context` the create options (0 context: the
// model's training context capped at 4096, as the backend does). A bundle packed before
// metadata.llm.shape existed gets a flat 96 MiB beyond the GGUF.
uint64_t llm_start_bytes(const nlohmann::json& llm, uint64_t gguf_bytes, uint32_t slots, uint32_t context);

}  // namespace thaw::engine
