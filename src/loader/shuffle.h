// Fast byte un-shuffling for the zstd load path: the inverse of bundle::shuffle_bytes (docs/format.md,
// "Byte shuffle"), vectorised for the 2- and 4-byte lanes; same result as bundle::unshuffle_bytes.
#pragma once

#include <cstddef>
#include <span>

namespace thaw::loader {

// dst[i * k + j] = src[j * n + i] for n = src.size() / k elements; the src.size() % k trailing
// bytes are copied unchanged. dst.size() must equal src.size(); the spans must not overlap.
void byte_unshuffle(std::span<const std::byte> src, std::span<std::byte> dst, size_t element_size);

}  // namespace thaw::loader
