// Content-addressed chunk storage on local disk. A chunk is stored once under its id (xxh3-128 of
// its uncompressed bytes, 32 hex chars), whichever bundle versions share it. Writes are atomic
// (temp file, fsync, rename, fsync of the directory), so a crash at any point leaves either the
// whole verified chunk or nothing; open() deletes leftover temp files and any entry whose bytes no
// longer match its id.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace thaw::cache {

// How a chunk's bytes are held: as-is, as one zstd frame of `length` uncompressed bytes, or as a
// zstd frame of the byte-shuffled bytes (docs/format.md, "Byte shuffle").
enum class ChunkEncoding : uint8_t { kRaw = 0, kZstd = 1, kZstdShuffled = 2 };

// xxh3-128 of `bytes` as 32 lower-case hex chars (high 64 bits first), the bundle's chunk id.
std::string chunk_id_of(std::span<const std::byte> bytes);
bool is_chunk_id(std::string_view id);

// Checks stored bytes against their id: hashes them (raw) or decompresses then hashes (zstd,
// which must give exactly `length` bytes). kCorrupt on any mismatch.
Status verify_chunk(std::string_view id, ChunkEncoding encoding, uint64_t length,
                    std::span<const std::byte> stored);

// The store's key for a chunk: the id, plus a suffix for the zstd form (so a raw and a compressed
// copy of the same content are separate files with separate sizes).
std::string chunk_key(std::string_view id, ChunkEncoding encoding);

struct RecoveryReport {
  uint64_t temps_removed = 0;
  uint64_t corrupt_removed = 0;
  uint64_t chunks_kept = 0;
  uint64_t bytes_kept = 0;
};

class ChunkStore {
 public:
  // Creates `dir` if needed and scans it: deletes temp files, and (if `verify`) re-hashes every
  // entry, deleting those that do not match their name.
  static Result<std::unique_ptr<ChunkStore>> open(std::string dir, bool verify = true);

  // Verifies `stored` against `id` and writes it atomically. Idempotent: an existing entry is kept.
  Status put(std::string_view id, ChunkEncoding encoding, uint64_t length,
             std::span<const std::byte> stored);
  bool contains(const std::string& key) const;
  // Creates and removes a probe file in the store's directory: whether a chunk could be written now.
  Status check_writable() const;
  // Stored size of an entry, or kNotFound.
  Result<uint64_t> size(const std::string& key) const;
  // Opens an entry for reading (sendfile/pread); kNotFound if absent.
  Result<UniqueFd> open_read(const std::string& key) const;
  // Reads a whole entry.
  Result<std::string> read(const std::string& key) const;
  Status remove(const std::string& key);

  uint64_t total_bytes() const;
  uint64_t count() const;
  std::vector<std::string> keys() const;
  const RecoveryReport& recovery() const { return recovery_; }
  const std::string& dir() const { return dir_; }

 private:
  explicit ChunkStore(std::string dir) : dir_(std::move(dir)) {}
  std::string path_of(std::string_view key) const;
  Status scan(bool verify);

  std::string dir_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, uint64_t> sizes_;  // key -> stored bytes
  uint64_t total_bytes_ = 0;
  uint64_t temp_seq_ = 0;
  RecoveryReport recovery_;
};

// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename, fsync of
// the directory. Shared by the chunk store and the version records.
Status write_file_atomic(const std::string& path, std::span<const std::byte> bytes,
                         std::string_view temp_suffix);
Result<std::string> read_whole_file(const std::string& path);

}  // namespace thaw::cache
