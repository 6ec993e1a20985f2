// Placement of tensors and files in the logical data section, and its cut into chunks.
#pragma once

#include <cstdint>
#include <vector>

namespace thaw::bundle {

// [offset, offset + length) of one item (tensor or file) in the data section.
struct ItemSpan {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Places items back to back in the given order, each starting on a 4096-byte boundary. Returns
// their offsets; `*data_length` gets the end of the last item rounded up to 4096.
std::vector<uint64_t> place_items(const std::vector<uint64_t>& lengths, uint64_t* data_length);

// A chunk as [data_offset, data_offset + length).
struct ChunkSpan {
  uint64_t data_offset = 0;
  uint64_t length = 0;
};

// Cuts the data section into chunks by the content-defined rule of docs/format.md: an item of
// kLargeItemBytes or more starts a new chunk and is cut into chunk_size pieces from its own start
// (the last piece runs to the next item's start); smaller items are grouped while the group fits in
// chunk_size. `items` must be sorted by offset and tile the section as place_items() lays them out.
std::vector<ChunkSpan> plan_chunks(const std::vector<ItemSpan>& items, uint64_t data_length, uint64_t chunk_size);

}  // namespace thaw::bundle
