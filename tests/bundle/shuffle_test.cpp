#include "bundle/shuffle.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace thaw::bundle {
namespace {

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
  return v;
}

TEST(Shuffle, UnshuffleInvertsShuffleForEveryLaneAndTail) {
  for (size_t k : {1u, 2u, 3u, 4u, 8u}) {
    for (size_t n : {0u, 1u, 5u, 15u, 16u, 17u, 63u, 64u, 1000u, 4099u, 65536u + 13u}) {
      auto in = random_bytes(n, static_cast<uint32_t>(k * 100003 + n));
      std::vector<std::byte> planes(n), back(n);
      shuffle_bytes(in, planes, k);
      const size_t elems = n / k;  // the planes are laid out exactly as docs/format.md says
      for (size_t i = 0; i < elems; ++i)
        for (size_t j = 0; j < k; ++j) ASSERT_EQ(planes[j * elems + i], in[i * k + j]);
      unshuffle_bytes(planes, back, k);
      ASSERT_EQ(back, in) << "lane " << k << ", " << n << " bytes";
    }
  }
}

TEST(Shuffle, KnownPlanesInterleaveBackIntoValues) {
  // Planes 00 10 | 01 11 | 02 12 | 03 13 are the two 4-byte values 00 01 02 03 and 10 11 12 13.
  std::vector<std::byte> planes = {std::byte{0x00}, std::byte{0x10}, std::byte{0x01}, std::byte{0x11},
                                   std::byte{0x02}, std::byte{0x12}, std::byte{0x03}, std::byte{0x13},
                                   std::byte{0xee}};
  std::vector<std::byte> out(planes.size());
  unshuffle_bytes(planes, out, 4);
  std::vector<std::byte> want = {std::byte{0x00}, std::byte{0x01}, std::byte{0x02}, std::byte{0x03},
                                 std::byte{0x10}, std::byte{0x11}, std::byte{0x12}, std::byte{0x13},
                                 std::byte{0xee}};
  EXPECT_EQ(out, want);
}

}  // namespace
}  // namespace thaw::bundle
