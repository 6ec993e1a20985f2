// Fuzzes what a fetch reads first from a registry it does not trust: a bundle's head (header,
// manifest, literal bytes) read into a recipe through ranged reads, with the source honest or
// claiming a larger file than it serves. Nothing may crash, and a recipe it accepts must be one a
// fetch can follow: extents tiling the file, chunks inside it, runs inside it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache/chunk_runs.h"
#include "cache/recipe_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace thaw::cache;
  const std::string file(reinterpret_cast<const char*>(data), size);
  // The first byte's low bit: a source whose Content-Range claims more bytes than it has.
  const uint64_t claimed = size + ((size > 0 && (data[0] & 1)) ? uint64_t{data[0]} * 4096 : 0);
  int reads = 0;
  RangeReader read = [&](uint64_t offset, uint64_t length) -> thaw::Result<RangeBytes> {
    if (++reads > 64) return thaw::make_error(thaw::Code::kUnavailable, "too many reads");
    RangeBytes r;
    r.total_size = claimed;
    if (offset < file.size()) r.bytes = file.substr(offset, length);
    return r;
  };
  auto recipe = read_recipe("fuzz", "1", read, 4096, "fuzz");
  if (!recipe.is_ok()) return 0;
  const Recipe& rc = *recipe;
  uint64_t at = 0, literal = 0;
  for (const Extent& e : rc.extents) {
    if (e.offset != at || e.length == 0) std::abort();
    if (e.chunk >= 0) {
      if (static_cast<size_t>(e.chunk) >= rc.chunks.size()) std::abort();
    } else {
      if (e.literal_offset != literal || e.literal_offset + e.length > rc.literal.size()) std::abort();
      literal += e.length;
    }
    at += e.length;
  }
  if (at != rc.file_size) std::abort();
  std::vector<size_t> all;
  for (size_t i = 0; i < rc.chunks.size(); ++i) {
    const RecipeChunk& c = rc.chunks[i];
    if (c.file_offset > rc.file_size || c.stored_length > rc.file_size - c.file_offset) std::abort();
    all.push_back(i);
  }
  for (const ChunkRun& run : plan_chunk_runs(rc, all, 4, uint64_t{256} << 20))
    if (run.offset > rc.file_size || run.length > rc.file_size - run.offset || run.chunks.empty()) std::abort();
  return 0;
}
