#include "bundle/shuffle.h"

#include <cassert>
#include <cstring>

namespace thaw::bundle {

void shuffle_bytes(std::span<const std::byte> src, std::span<std::byte> dst, size_t k) {
  assert(src.size() == dst.size() && k > 0);
  const size_t n = src.size() / k;
  for (size_t j = 0; j < k; ++j) {
    std::byte* plane = dst.data() + j * n;
    const std::byte* in = src.data() + j;
    for (size_t i = 0; i < n; ++i) plane[i] = in[i * k];
  }
  const size_t tail = src.size() - n * k;
  if (tail > 0) std::memcpy(dst.data() + n * k, src.data() + n * k, tail);
}

void unshuffle_bytes(std::span<const std::byte> src, std::span<std::byte> dst, size_t k) {
  assert(src.size() == dst.size() && k > 0);
  const size_t n = src.size() / k;
  for (size_t j = 0; j < k; ++j) {
    const std::byte* plane = src.data() + j * n;
    std::byte* out = dst.data() + j;
    for (size_t i = 0; i < n; ++i) out[i * k] = plane[i];
  }
  const size_t tail = src.size() - n * k;
  if (tail > 0) std::memcpy(dst.data() + n * k, src.data() + n * k, tail);
}

}  // namespace thaw::bundle
