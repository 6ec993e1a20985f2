// Fuzzes the safetensors parser used by `thaw pack` on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "bundle/pack_safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  thaw::bundle::PackedModel model;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  if (!thaw::bundle::parse_safetensors(bytes, &model).is_ok()) return 0;
  // Every accepted tensor must lie inside the input.
  for (const auto& t : model.contents.tensors)
    if (t.data.data() < bytes.data() || t.data.data() + t.data.size() > bytes.data() + bytes.size()) __builtin_trap();
  return 0;
}
