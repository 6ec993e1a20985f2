// Byte un-shuffling: the inverse of splitting `element_size`-byte values into element_size planes
// (all first bytes, then all second bytes, ...), which makes float weights compress better.
#pragma once

#include <cstddef>
#include <span>

namespace thaw::loader {

// dst[i * k + j] = src[j * n + i] for n = src.size() / k elements; the src.size() % k trailing
// bytes are copied unchanged. dst.size() must equal src.size(); the spans must not overlap.
void byte_unshuffle(std::span<const std::byte> src, std::span<std::byte> dst, size_t element_size);

// The forward transform, for tests and tools: dst[j * n + i] = src[i * k + j].
void byte_shuffle(std::span<const std::byte> src, std::span<std::byte> dst, size_t element_size);

}  // namespace thaw::loader
