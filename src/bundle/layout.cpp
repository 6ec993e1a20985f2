#include "bundle/layout.h"

#include <algorithm>

#include "bundle/format.h"

namespace thaw::bundle {

std::vector<uint64_t> place_items(const std::vector<uint64_t>& lengths, uint64_t* data_length) {
  std::vector<uint64_t> offsets;
  offsets.reserve(lengths.size());
  uint64_t cursor = 0;
  for (uint64_t len : lengths) {
    uint64_t off = align_up(cursor, 4096);
    offsets.push_back(off);
    cursor = off + len;
  }
  *data_length = align_up(cursor, 4096);
  return offsets;
}

std::vector<ChunkSpan> plan_chunks(const std::vector<ItemSpan>& items, uint64_t data_length, uint64_t chunk_size) {
  std::vector<ChunkSpan> chunks;
  uint64_t group_start = 0, group_end = 0;
  bool group_open = false;
  auto flush = [&] {
    if (group_open && group_end > group_start) chunks.push_back({group_start, group_end - group_start});
    group_open = false;
  };
  for (size_t i = 0; i < items.size(); ++i) {
    const uint64_t start = items[i].offset;
    const uint64_t end = i + 1 < items.size() ? items[i + 1].offset : data_length;  // the item's extent
    if (end <= start) continue;  // an empty item owns no bytes
    if (items[i].length >= kLargeItemBytes) {
      flush();
      for (uint64_t p = start; p < end; p += chunk_size) chunks.push_back({p, std::min(chunk_size, end - p)});
      continue;
    }
    if (group_open && end - group_start > chunk_size) flush();
    if (!group_open) {
      group_open = true;
      group_start = start;
    }
    group_end = end;
  }
  flush();
  return chunks;
}

}  // namespace thaw::bundle
