// libFuzzer: the llm load plan's memory estimate over any metadata.llm a bundle's manifest holds.
// It never throws, never wraps below the GGUF it must hold, and never shrinks with more slots.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "engine/llm/memory_estimate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t gguf = 0;
  for (int i = 0; i < 8; ++i) gguf = gguf << 8 | data[i];
  gguf >>= 8;  // up to 64 PiB: room for the rest of the estimate
  const nlohmann::json llm = nlohmann::json::parse(data + 8, data + size, nullptr, /*allow_exceptions=*/false);
  const uint64_t one = thaw::engine::llm_start_bytes(llm, gguf, 1, 0);
  const uint64_t four = thaw::engine::llm_start_bytes(llm, gguf, 4, 0);
  const uint64_t short_ctx = thaw::engine::llm_start_bytes(llm, gguf, 4, 16);
  if (one <= gguf || four < one || short_ctx <= gguf) std::abort();
  return 0;
}
