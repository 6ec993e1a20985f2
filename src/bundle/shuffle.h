// Byte shuffling of chunks before zstd: 4-byte lanes split into 4 planes so the similar exponent
// bytes of float weights sit together and compress better (the transform blosc calls "shuffle").
#pragma once

#include <cstddef>
#include <span>

namespace thaw::bundle {

// The lane width used for every shuffled chunk (docs/format.md, "Byte shuffle").
inline constexpr size_t kShuffleLane = 4;

// With n = src.size() / k: dst[j * n + i] = src[i * k + j] for i < n, j < k; the src.size() % k
// trailing bytes are copied unchanged. Sizes must match; the spans must not overlap.
void shuffle_bytes(std::span<const std::byte> src, std::span<std::byte> dst, size_t k = kShuffleLane);
// The inverse: dst[i * k + j] = src[j * n + i].
void unshuffle_bytes(std::span<const std::byte> src, std::span<std::byte> dst, size_t k = kShuffleLane);

}  // namespace thaw::bundle
