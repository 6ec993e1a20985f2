// The .thaw bundle: one file holding a model's graph, weights, tokenizer, config and warm-up inputs.
// Layout and every field are specified in docs/format.md. This header is the contract used by the
// loader, engine, worker and cache; the reader trusts nothing in the file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/dtype.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace thaw::bundle {

inline constexpr uint64_t kAlignment = 4096;           // every tensor and blob starts on a page
inline constexpr uint64_t kDefaultChunkSize = 4 << 20; // zstd frame / content-addressed chunk size
inline constexpr uint64_t kMaxManifestBytes = 64 << 20;

enum class Compression : uint8_t { kNone = 0, kZstd = 1 };

// A weight tensor. `offset` is relative to the start of the logical (uncompressed) data section.
struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  uint64_t length = 0;     // bytes; always dtype_size * prod(shape)
  uint64_t checksum = 0;   // xxh3-64 of the tensor's bytes
};

// An opaque blob stored in the data section: a backend's graph, "tokenizer.json", "config.json",
// ... Offsets are in the logical data section, page-aligned like tensors.
struct FileEntry {
  std::string name;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t checksum = 0;   // xxh3-64
};

// A content-addressed piece of the logical data section. Chunks tile the data section in order
// without gaps. With compression each chunk is one independent zstd frame.
struct ChunkEntry {
  std::string id;              // 32 hex chars: xxh3-128 of the uncompressed bytes
  uint64_t data_offset = 0;    // start in the logical data section
  uint64_t length = 0;         // uncompressed bytes
  uint64_t file_offset = 0;    // where its stored bytes start in the file
  uint64_t stored_length = 0;  // bytes in the file (== length when uncompressed)
};

// One warm-up request: named input tensors kept as files ("warmup/0/input_ids") plus metadata.
struct WarmupInput {
  std::string tensor_name;
  DType dtype = DType::kI64;
  std::vector<int64_t> shape;
  std::string file;  // FileEntry name holding the raw little-endian bytes
};
struct WarmupRequest {
  std::vector<WarmupInput> inputs;
};

struct Manifest {
  std::string name;
  std::string version;
  std::string backend;             // the plugin that runs it; "none": weights only
  Compression compression = Compression::kNone;
  bool byte_shuffle = false;       // float chunks byte-shuffled before zstd (see docs/format.md)
  uint64_t chunk_size = kDefaultChunkSize;
  uint64_t data_offset = 0;        // file offset of the data section (uncompressed bundles)
  uint64_t data_length = 0;        // logical (uncompressed) length of the data section
  std::vector<TensorEntry> tensors;
  std::vector<FileEntry> files;
  std::vector<ChunkEntry> chunks;
  std::vector<WarmupRequest> warmup;
  nlohmann::json metadata = nlohmann::json::object();  // free-form: inputs/outputs signature, ...

  const TensorEntry* find_tensor(std::string_view name) const;
  const FileEntry* find_file(std::string_view name) const;
};

struct ChunkScratch;  // decode buffers, private to the reader

// Opens a bundle and validates its header and manifest: magic, version, every offset, length and
// count, tensor sizes against dtype x shape, no overlaps, chunks tiling the data section.
// Does not read tensor data; checksums are checked by verify().
class Reader {
 public:
  static Result<Reader> open(const std::string& path);
  // Parses a bundle held in memory (fuzzing, cache). `bytes` must outlive the Reader.
  static Result<Reader> from_memory(std::span<const std::byte> bytes);

  const Manifest& manifest() const { return manifest_; }
  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  int fd() const { return fd_.get(); }  // -1 for from_memory

  // Reads a whole file entry (decompressing if needed).
  Result<std::string> read_file(std::string_view name) const;
  // Reads a tensor's bytes (decompressing if needed); checks nothing beyond the manifest.
  Result<std::vector<std::byte>> read_tensor(std::string_view name) const;
  // Reads bytes [offset, offset + dst.size()) of the logical data section; with compression only
  // the chunks that overlap the range are read and decompressed.
  Status read_data(uint64_t offset, std::span<std::byte> dst) const;
  // Reads every byte and checks every chunk id and tensor/file checksum. `progress(bytes)` is
  // called as data is checked. Returns the first mismatch by name.
  Status verify(const std::function<void(uint64_t)>& progress = {}) const;

 private:
  // Stored bytes at a file offset (pread or memory); the range was validated by open().
  Status read_stored(uint64_t file_offset, std::span<std::byte> dst) const;
  // Chunk `index`'s logical bytes: straight from memory when possible, else decoded into `scratch`.
  Result<std::span<const std::byte>> chunk_bytes(size_t index, ChunkScratch& scratch) const;
  static Result<Reader> parse(Reader reader);

  std::string path_;
  UniqueFd fd_;
  uint64_t file_size_ = 0;
  std::span<const std::byte> memory_;  // set by from_memory
  Manifest manifest_;
};

// Everything `thaw pack` puts in a bundle. Tensor bytes are borrowed: they must stay valid until
// write() returns.
struct WriterTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};
// A file's bytes are `data`, or, when `borrowed` is set, bytes kept alive elsewhere until write()
// returns (a large input mapped, not copied: PackedModel::mappings).
struct WriterFile {
  std::string name;
  std::string data;
  std::span<const std::byte> borrowed;
  std::span<const std::byte> bytes() const {
    return borrowed.data() != nullptr ? borrowed : std::as_bytes(std::span(data));
  }
};
struct WriteOptions {
  Compression compression = Compression::kNone;
  int zstd_level = 3;
  bool byte_shuffle = true;    // only used with zstd: every chunk shuffled in 4-byte lanes
  uint64_t chunk_size = kDefaultChunkSize;
  int threads = 0;             // 0: all cores
  // Called with logical data-section bytes done (compressed, or written when uncompressed);
  // the calls add up to the data length. Never called concurrently.
  std::function<void(uint64_t)> progress;
};
struct BundleContents {
  std::string name;
  std::string version = "1";
  std::string backend = "none";
  std::vector<WriterTensor> tensors;
  std::vector<WriterFile> files;
  std::vector<WarmupRequest> warmup;   // their `file`s must be in `files`
  nlohmann::json metadata = nlohmann::json::object();
};

// Where write() places each tensor in the logical data section: tensors come first, in order, each
// on a 4096-byte boundary, so their offsets depend only on their lengths (pack needs them to build a
// graph whose external-data references point into the data section before writing it).
std::vector<uint64_t> plan_tensor_offsets(const std::vector<WriterTensor>& tensors);

// Writes atomically: a temp file beside `path`, fsync, rename.
Status write(const std::string& path, const BundleContents& contents, const WriteOptions& options);

}  // namespace thaw::bundle
