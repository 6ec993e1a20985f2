// How to rebuild a bundle file byte for byte from the chunk store: the file is tiled by extents,
// each either one content-addressed chunk (as stored in the file: raw or one zstd frame) or
// "literal" bytes (header, manifest, padding) kept with the version record.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/chunk_store.h"
#include "common/status.h"

namespace thaw::cache {

struct RecipeChunk {
  std::string id;               // xxh3-128 of the uncompressed bytes
  ChunkEncoding encoding = ChunkEncoding::kRaw;
  uint64_t length = 0;          // uncompressed bytes
  uint64_t file_offset = 0;     // where the stored bytes sit in the bundle file
  uint64_t stored_length = 0;
  std::string key() const { return chunk_key(id, encoding); }
};

struct Extent {
  uint64_t offset = 0;          // in the bundle file
  uint64_t length = 0;
  int64_t chunk = -1;           // index into chunks, or -1 for literal bytes
  uint64_t literal_offset = 0;  // into Recipe::literal when chunk == -1
};

struct Recipe {
  std::string name;
  std::string version;
  uint64_t file_size = 0;
  std::vector<RecipeChunk> chunks;  // file order; the same id may appear more than once
  std::vector<Extent> extents;      // ascending, tiling [0, file_size)
  std::string literal;              // every literal extent's bytes, in order

  // Unique store keys with their stored sizes (what the version index accounts).
  std::vector<std::pair<std::string, uint64_t>> chunk_keys() const;
  // Bytes of the bundle's chunk data.
  uint64_t chunk_bytes() const;
  // Index of the extent holding file offset `offset` (offset < file_size).
  size_t extent_at(uint64_t offset) const;

  nlohmann::json to_json() const;   // everything but `literal`
  // Checks the tiling, ids and bounds; `literal` is checked against the JSON's length and hash.
  static Result<Recipe> from_json(const nlohmann::json& j, std::string literal);
};

// A literal range the parser could not fill from the bytes it was given.
struct LiteralGap {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Builds a recipe from the first bytes of a bundle (`head`, from file offset 0) and the file's
// total size. kCorrupt when the bytes are not a valid bundle. kResourceExhausted when the head
// is too short to hold the header and manifest: fetch more and call again. Literal bytes past the
// head are listed in `*missing` and left zero in the recipe (the caller fetches and fills them).
Result<Recipe> recipe_from_bundle_head(std::string name, std::string version,
                                       std::span<const std::byte> head, uint64_t file_size,
                                       std::vector<LiteralGap>* missing);

// Copies `bytes` (file offset `offset`) into the recipe's literal extents they cover.
void fill_literal(Recipe* recipe, uint64_t offset, std::span<const std::byte> bytes);

// Model names and versions become file names: [A-Za-z0-9._-], 1..128 chars, not "." or "..".
bool is_safe_name(std::string_view s);

}  // namespace thaw::cache
