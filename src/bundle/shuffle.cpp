#include "bundle/shuffle.h"

#include <cassert>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace thaw::bundle {
namespace {

// Scalar inverse for elements [from, n).
void unshuffle_scalar(const uint8_t* src, uint8_t* dst, size_t n, size_t k, size_t from) {
  for (size_t j = 0; j < k; ++j) {
    const uint8_t* plane = src + j * n;
    for (size_t i = from; i < n; ++i) dst[i * k + j] = plane[i];
  }
}

#if defined(__SSE2__)
// Four planes -> interleaved 4-byte values, 16 values per step.
size_t unshuffle4_sse2(const uint8_t* src, uint8_t* dst, size_t n) {
  const uint8_t* p0 = src;
  const uint8_t* p1 = src + n;
  const uint8_t* p2 = src + 2 * n;
  const uint8_t* p3 = src + 3 * n;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p0 + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1 + i));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p2 + i));
    __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p3 + i));
    __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
    __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
    auto* out = reinterpret_cast<__m128i*>(dst + i * 4);
    _mm_storeu_si128(out + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(out + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
  }
  return i;
}

// Two planes -> interleaved 2-byte values, 16 values per step.
size_t unshuffle2_sse2(const uint8_t* src, uint8_t* dst, size_t n) {
  const uint8_t* p0 = src;
  const uint8_t* p1 = src + n;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p0 + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1 + i));
    auto* out = reinterpret_cast<__m128i*>(dst + i * 2);
    _mm_storeu_si128(out + 0, _mm_unpacklo_epi8(a, b));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi8(a, b));
  }
  return i;
}
#endif

}  // namespace

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
  const auto* s = reinterpret_cast<const uint8_t*>(src.data());
  auto* d = reinterpret_cast<uint8_t*>(dst.data());
  const size_t n = src.size() / k;
  size_t done = 0;
#if defined(__SSE2__)
  if (k == 4) done = unshuffle4_sse2(s, d, n);
  else if (k == 2) done = unshuffle2_sse2(s, d, n);
#endif
  unshuffle_scalar(s, d, n, k, done);
  const size_t tail = src.size() - n * k;
  if (tail > 0) std::memcpy(d + n * k, s + n * k, tail);
}

}  // namespace thaw::bundle
