// Packs a safetensors file: 8-byte little-endian header length, a JSON header, then the bytes.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "bundle/pack.h"

namespace thaw::bundle {

inline constexpr uint64_t kMaxSafetensorsHeader = 100 << 20;

// Maps the file and validates everything (header size, JSON, dtypes, shapes, offsets inside the
// data, no overlaps); tensors borrow the mapping. Backend is "none"; the header's
// "__metadata__" goes to metadata["safetensors"].
Result<std::unique_ptr<PackedModel>> pack_safetensors(const std::string& path);

// The same parse over bytes in memory (for fuzzing); tensors borrow `bytes`.
Status parse_safetensors(std::span<const std::byte> bytes, PackedModel* model);

}  // namespace thaw::bundle
