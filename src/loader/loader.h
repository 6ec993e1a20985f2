// Gets a bundle's logical data section into memory, ready to use: every page resident and touched.
// Modes: mmap (zero-copy view of an uncompressed bundle), read (parallel pread into one aligned
// buffer), zstd (parallel decompression of chunks straight into one aligned buffer, reads overlapped
// with decompression). Each load reports its phases (open, index, map/read/decompress, touch, verify).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bundle/bundle.h"
#include "common/clock.h"
#include "common/status.h"
#include "loader/mapping.h"

namespace thaw::loader {

enum class Mode : uint8_t {
  kAuto,  // mmap for uncompressed bundles, zstd for compressed ones
  kMmap,
  kRead,
  kZstd,
};
std::string_view mode_name(Mode mode);
std::optional<Mode> mode_from_name(std::string_view name);

struct LoadOptions {
  Mode mode = Mode::kAuto;
  int threads = 2;              // workers for read, decompress, touch and verify; >= 1
  bool touch = true;            // read one byte per 4 KiB page so every page is resident
  bool verify = false;          // check every tensor and file checksum against the manifest
  // mmap mode
  // MADV_POPULATE_READ: map every page in one kernel pass, which beats faulting them in one by one
  // (about 15% faster hot here); off gives a lazy mapping that touch (if on) then faults in.
  bool populate = true;
  bool willneed = true;         // MADV_WILLNEED: start readahead of the whole range at once
  bool mlock = false;           // pin the loaded bytes in RAM (mmap, read and zstd modes)
  // Transparent huge pages: MADV_HUGEPAGE on the loaded region. Fewer page faults for the read and
  // zstd buffers; for mmap it only helps where the filesystem's page cache supports large folios.
  bool hugepages = true;
  bool io_uring = false;        // read mode: one io_uring ring instead of pread threads
  // read mode: O_DIRECT reads, 4 x read_block in flight on one io_uring ring (pread threads where
  // io_uring is unavailable). Bypasses the page cache: faster from cold storage, no caching for the
  // next process; slower when the bundle is already cached.
  bool direct = false;
  uint64_t read_block = 8 << 20;  // read mode: bytes per pread / io_uring request
  const Clock* clock = nullptr; // nullptr: a steady clock
};

// Phase durations in the order they ran, and the wall time of the whole load.
struct LoadTimings {
  std::vector<std::pair<std::string, Nanos>> phases;
  Nanos total{0};
  // CPU time summed over workers inside a phase (e.g. zstd's read vs decompress); these overlap the
  // phases above and are not part of `total`.
  std::vector<std::pair<std::string, Nanos>> worker_time;

  Nanos phase(std::string_view name) const;  // zero when the phase did not run
  // {"open_ms": .., "index_ms": .., ..., "total_ms": .., "worker_time_ms": {"read": ..}}
  nlohmann::json to_json() const;
};

// A loaded bundle. Owns its memory: one file mapping (mmap mode) or one page-aligned allocation
// holding the whole logical data section. Views stay valid while it lives; it is move-only.
class LoadedBundle {
 public:
  // The whole logical data section, in the layout of the manifest's offsets. Backends read their
  // weights from it in place.
  std::span<const std::byte> data() const { return memory_.bytes(); }
  // A tensor's bytes; kNotFound when the manifest has no such tensor.
  Result<std::span<const std::byte>> tensor(std::string_view name) const;
  // A file entry's bytes (graph, tokenizer, ...); kNotFound when absent.
  Result<std::span<const std::byte>> file(std::string_view name) const;
  // Makes one file entry resident in one kernel pass (readahead, then MADV_POPULATE_READ, else a
  // touch per page): for a lazy mapping (touch and populate off) of which only this file is used.
  Status fault_in_file(std::string_view name) const;

  const bundle::Manifest& manifest() const { return manifest_; }
  // The bundle file it was loaded from: for runtimes that map their weights from the file
  // themselves (data section at manifest().data_offset when uncompressed).
  const std::string& source_path() const { return source_path_; }
  const LoadTimings& timings() const { return timings_; }
  Mode mode() const { return mode_; }  // the mode that ran (never kAuto)
  int threads() const { return threads_; }
  bool io_uring() const { return io_uring_; }
  bool direct() const { return direct_; }

 private:
  friend class LoadSession;
  Mapping memory_;
  bundle::Manifest manifest_;
  std::string source_path_;
  std::unordered_map<std::string, size_t> tensor_index_;  // name -> manifest_.tensors index
  std::unordered_map<std::string, size_t> file_index_;
  LoadTimings timings_;
  Mode mode_ = Mode::kMmap;
  int threads_ = 1;
  bool io_uring_ = false;
  bool direct_ = false;
};

// Loads an open bundle. The result does not depend on `reader` staying alive.
Result<LoadedBundle> load(const bundle::Reader& reader, const LoadOptions& options);
// Opens and loads a bundle file; the "open" phase times bundle::Reader::open.
Result<LoadedBundle> load_file(const std::string& path, const LoadOptions& options);

}  // namespace thaw::loader
