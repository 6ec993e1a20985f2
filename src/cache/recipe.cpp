#include "cache/recipe.h"

#include <sys/mman.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "bundle/bundle.h"

namespace thaw::cache {

bool is_safe_name(std::string_view s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

std::vector<std::pair<std::string, uint64_t>> Recipe::chunk_keys() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  std::set<std::string> seen;
  for (const auto& c : chunks)
    if (seen.insert(c.key()).second) out.emplace_back(c.key(), c.stored_length);
  return out;
}

uint64_t Recipe::chunk_bytes() const {
  uint64_t n = 0;
  for (const auto& c : chunks) n += c.stored_length;
  return n;
}

size_t Recipe::extent_at(uint64_t offset) const {
  auto it = std::upper_bound(extents.begin(), extents.end(), offset,
                             [](uint64_t off, const Extent& e) { return off < e.offset; });
  return static_cast<size_t>(it - extents.begin()) - 1;
}

namespace {

// Lays out extents: chunks where the manifest puts them, literal bytes everywhere else.
Result<Recipe> build(std::string name, std::string version, uint64_t file_size, std::vector<RecipeChunk> chunks) {
  std::sort(chunks.begin(), chunks.end(),
            [](const RecipeChunk& a, const RecipeChunk& b) { return a.file_offset < b.file_offset; });
  Recipe r;
  r.name = std::move(name);
  r.version = std::move(version);
  r.file_size = file_size;
  uint64_t pos = 0;
  uint64_t literal = 0;
  auto add_literal = [&](uint64_t end) {
    if (end > pos) {
      r.extents.push_back({pos, end - pos, -1, literal});
      literal += end - pos;
      pos = end;
    }
  };
  for (size_t i = 0; i < chunks.size(); ++i) {
    const RecipeChunk& c = chunks[i];
    if (!is_chunk_id(c.id)) return make_error(Code::kCorrupt, "chunk {} has a bad id '{}'", i, c.id);
    if (c.stored_length == 0 || c.file_offset < pos || c.file_offset > file_size ||
        c.stored_length > file_size - c.file_offset)
      return make_error(Code::kCorrupt, "chunk {} [{}, +{}) overlaps another or leaves the {}-byte file", c.id,
                        c.file_offset, c.stored_length, file_size);
    if (c.encoding == ChunkEncoding::kRaw && c.stored_length != c.length)
      return make_error(Code::kCorrupt, "raw chunk {} stores {} bytes of {}", c.id, c.stored_length, c.length);
    add_literal(c.file_offset);
    r.extents.push_back({c.file_offset, c.stored_length, static_cast<int64_t>(i), 0});
    pos = c.file_offset + c.stored_length;
  }
  add_literal(file_size);
  r.chunks = std::move(chunks);
  r.literal.assign(literal, '\0');
  return r;
}

// An anonymous mapping the size of the whole file holding only its first bytes: the reader
// parses header and manifest from it; pages it never touches cost nothing.
class SparseImage {
 public:
  SparseImage(std::span<const std::byte> head, uint64_t size) : size_(std::max<uint64_t>(size, 1)) {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    data_ = static_cast<std::byte*>(p);
    std::memcpy(data_, head.data(), std::min<uint64_t>(head.size(), size));
  }
  ~SparseImage() {
    if (data_) ::munmap(data_, size_);
  }
  SparseImage(const SparseImage&) = delete;
  SparseImage& operator=(const SparseImage&) = delete;
  bool ok() const { return data_ != nullptr; }
  std::span<const std::byte> bytes(uint64_t n) const { return {data_, n}; }

 private:
  std::byte* data_ = nullptr;
  uint64_t size_;
};

}  // namespace

Result<Recipe> recipe_from_bundle_head(std::string name, std::string version,
                                       std::span<const std::byte> head, uint64_t file_size,
                                       std::vector<LiteralGap>* missing) {
  if (head.size() > file_size) return make_error(Code::kInvalidArgument, "head longer than the file");
  SparseImage image(head, file_size);
  if (!image.ok()) return make_error(Code::kResourceExhausted, "cannot map {} bytes", file_size);
  auto reader = bundle::Reader::from_memory(image.bytes(file_size));
  if (!reader.is_ok()) {
    if (head.size() < file_size && head.size() < bundle::kMaxManifestBytes + (1 << 20))
      return make_error(Code::kResourceExhausted, "need more than {} bytes: {}", head.size(),
                        reader.status().message());
    return reader.status();
  }
  const bundle::Manifest& m = reader->manifest();
  std::vector<RecipeChunk> chunks;
  chunks.reserve(m.chunks.size());
  for (const auto& c : m.chunks)
    chunks.push_back({c.id,
                      m.compression != bundle::Compression::kZstd ? ChunkEncoding::kRaw
                      : m.byte_shuffle                            ? ChunkEncoding::kZstdShuffled
                                                                  : ChunkEncoding::kZstd,
                      c.length, c.file_offset, c.stored_length});
  THAW_ASSIGN_OR_RETURN(Recipe r, build(std::move(name), std::move(version), file_size, std::move(chunks)));
  fill_literal(&r, 0, head);
  if (missing) {
    missing->clear();
    for (const auto& e : r.extents) {
      if (e.chunk >= 0 || e.offset + e.length <= head.size()) continue;
      uint64_t from = std::max<uint64_t>(e.offset, head.size());
      missing->push_back({from, e.offset + e.length - from});
    }
  }
  return r;
}

void fill_literal(Recipe* r, uint64_t offset, std::span<const std::byte> bytes) {
  const uint64_t end = offset + bytes.size();
  for (const auto& e : r->extents) {
    if (e.chunk >= 0) continue;
    uint64_t from = std::max(offset, e.offset);
    uint64_t to = std::min(end, e.offset + e.length);
    if (from >= to) continue;
    std::memcpy(r->literal.data() + e.literal_offset + (from - e.offset), bytes.data() + (from - offset), to - from);
  }
}

nlohmann::json Recipe::to_json() const {
  nlohmann::json cs = nlohmann::json::array();
  for (const auto& c : chunks)
    cs.push_back({{"id", c.id}, {"encoding", static_cast<int>(c.encoding)}, {"length", c.length},
                  {"file_offset", c.file_offset}, {"stored_length", c.stored_length}});
  return {{"name", name},
          {"version", version},
          {"file_size", file_size},
          {"chunks", std::move(cs)},
          {"literal_length", literal.size()},
          {"literal_xxh3", fmt::format("{:016x}", XXH3_64bits(literal.data(), literal.size()))}};
}

Result<Recipe> Recipe::from_json(const nlohmann::json& j, std::string literal) {
  try {
    std::vector<RecipeChunk> chunks;
    for (const auto& c : j.at("chunks")) {
      int enc = c.at("encoding").get<int>();
      if (enc < 0 || enc > static_cast<int>(ChunkEncoding::kZstdShuffled))
        return make_error(Code::kCorrupt, "unknown chunk encoding {}", enc);
      chunks.push_back({c.at("id").get<std::string>(), static_cast<ChunkEncoding>(enc),
                        c.at("length").get<uint64_t>(), c.at("file_offset").get<uint64_t>(),
                        c.at("stored_length").get<uint64_t>()});
    }
    THAW_ASSIGN_OR_RETURN(Recipe r, build(j.at("name").get<std::string>(), j.at("version").get<std::string>(),
                                          j.at("file_size").get<uint64_t>(), std::move(chunks)));
    if (literal.size() != r.literal.size() || j.at("literal_length").get<uint64_t>() != literal.size() ||
        j.at("literal_xxh3").get<std::string>() !=
            fmt::format("{:016x}", XXH3_64bits(literal.data(), literal.size())))
      return make_error(Code::kCorrupt, "version record's literal bytes do not match");
    r.literal = std::move(literal);
    return r;
  } catch (const std::exception& e) {
    return make_error(Code::kCorrupt, "bad version record: {}", e.what());
  }
}

}  // namespace thaw::cache
