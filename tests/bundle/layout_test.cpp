#include "bundle/layout.h"

#include <gtest/gtest.h>

#include "bundle/format.h"

namespace thaw::bundle {
namespace {

std::vector<ItemSpan> place(const std::vector<uint64_t>& lengths, uint64_t* data_length) {
  auto offsets = place_items(lengths, data_length);
  std::vector<ItemSpan> items;
  for (size_t i = 0; i < lengths.size(); ++i) items.push_back({offsets[i], lengths[i]});
  return items;
}

void expect_tiles(const std::vector<ChunkSpan>& chunks, uint64_t data_length, uint64_t chunk_size) {
  uint64_t pos = 0;
  for (const auto& c : chunks) {
    EXPECT_EQ(c.data_offset, pos);
    EXPECT_GT(c.length, 0u);
    EXPECT_LE(c.length, chunk_size);
    EXPECT_EQ(c.length % kAlignment, 0u);
    pos += c.length;
  }
  EXPECT_EQ(pos, data_length);
}

TEST(Layout, ItemsStartOnPages) {
  uint64_t len = 0;
  auto offs = place_items({10, 0, 4096, 4097, 1}, &len);
  EXPECT_EQ(offs, (std::vector<uint64_t>{0, 4096, 4096, 8192, 16384}));
  EXPECT_EQ(len, 20480u);
}

TEST(Layout, LargeItemsStartChunksAndSmallOnesGroup) {
  const uint64_t cs = 64 << 10;
  uint64_t len = 0;
  // small, small, large (2.5 chunks), small, large (exactly 1 chunk), small x 20
  std::vector<uint64_t> lengths = {100, 5000, cs * 5 / 2, 8, cs};
  for (int i = 0; i < 20; ++i) lengths.push_back(3000);
  auto items = place(lengths, &len);
  auto chunks = plan_chunks(items, len, cs);
  expect_tiles(chunks, len, cs);
  // The two leading small items form one chunk that ends where the large item starts.
  EXPECT_EQ(chunks[0].data_offset, 0u);
  EXPECT_EQ(chunks[0].length, items[2].offset);
  // The large item is cut from its own start: full pieces, then the rest up to the next item.
  EXPECT_EQ(chunks[1].data_offset, items[2].offset);
  EXPECT_EQ(chunks[1].length, cs);
  EXPECT_EQ(chunks[2].length, cs);
  EXPECT_EQ(chunks[3].length, items[3].offset - items[2].offset - 2 * cs);
  EXPECT_EQ(chunks[4].data_offset, items[3].offset);  // the lone small item between two large ones
  EXPECT_EQ(chunks[5].data_offset, items[4].offset);
  EXPECT_EQ(chunks[5].length, cs);
  // 20 small items of one page each: 16 fit a 64 KiB chunk, then the other 4.
  ASSERT_EQ(chunks.size(), 8u);
  EXPECT_EQ(chunks[6].length, 16 * 4096u);
  EXPECT_EQ(chunks[7].length, 4 * 4096u);
}

TEST(Layout, ChunksOfALargeItemDoNotDependOnWhatPrecedesIt) {
  const uint64_t cs = 64 << 10;
  uint64_t len_a = 0, len_b = 0;
  auto a = place({cs * 3 + 100}, &len_a);
  auto b = place({12345, 7, cs * 3 + 100}, &len_b);
  auto ca = plan_chunks(a, len_a, cs);
  auto cb = plan_chunks(b, len_b, cs);
  ASSERT_EQ(ca.size(), 4u);
  ASSERT_EQ(cb.size(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ca[i].length, cb[i + 1].length);
    EXPECT_EQ(ca[i].data_offset + b[2].offset, cb[i + 1].data_offset);
  }
}

TEST(Layout, EmptySection) {
  uint64_t len = 7;
  auto items = place({0, 0}, &len);
  EXPECT_EQ(len, 0u);
  EXPECT_TRUE(plan_chunks(items, len, 64 << 10).empty());
}

}  // namespace
}  // namespace thaw::bundle
