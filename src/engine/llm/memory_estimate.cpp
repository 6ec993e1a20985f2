#include "engine/llm/memory_estimate.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

namespace thaw::engine {
namespace {

constexpr uint64_t kFlatRuntimeBytes = 96ull << 20;  // no shape in the manifest
constexpr uint64_t kProcessBytes = 24ull << 20;      // the worker process: code (llama.cpp linked in), heap
constexpr uint64_t kStepTokens = 512;                // llama.cpp's micro-batch (the backend's n_ubatch cap)

uint64_t field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  return it->get<int64_t>() < 0 ? 0 : static_cast<uint64_t>(it->get<int64_t>());
}

// A crafted manifest may hold any numbers: the estimate saturates instead of wrapping to a small one.
uint64_t mul(uint64_t a, uint64_t b) {
  return a != 0 && b > std::numeric_limits<uint64_t>::max() / a ? std::numeric_limits<uint64_t>::max() : a * b;
}
uint64_t add(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

}  // namespace

uint64_t llm_start_bytes(const nlohmann::json& llm, uint64_t gguf_bytes, uint32_t slots, uint32_t context) {
  if (!llm.is_object() || !llm.contains("shape") || !llm["shape"].is_object()) return add(gguf_bytes, kFlatRuntimeBytes);
  const nlohmann::json& s = llm["shape"];
  const uint64_t layers = field(s, "layers"), kv_heads = field(s, "kv_heads"), embedding = field(s, "embedding");
  const uint64_t kv_row = add(field(s, "key_length"), field(s, "value_length"));
  if (layers == 0 || kv_heads == 0 || kv_row == 0 || embedding == 0) return add(gguf_bytes, kFlatRuntimeBytes);
  const uint64_t trained = field(llm, "context_length");
  const uint64_t per_slot = context != 0 ? context : std::min<uint64_t>(trained != 0 ? trained : 4096, 4096);
  // F16 K and V per token and layer, for every slot's whole context (allocated and cleared up front).
  const uint64_t kv = mul(mul(mul(mul(layers, kv_heads), kv_row), 2 * per_slot), std::max<uint32_t>(slots, 1));
  // One step's activations (a few embedding-wide F32 rows per token) and its logits.
  uint64_t vocab = 0;
  if (auto t = llm.find("tokenizer"); t != llm.end() && t->is_object()) vocab = field(*t, "vocab_size");
  const uint64_t compute = mul(kStepTokens * 4, add(mul(8, embedding), vocab));
  return add(add(add(gguf_bytes, kv), compute), kProcessBytes);
}

}  // namespace thaw::engine
