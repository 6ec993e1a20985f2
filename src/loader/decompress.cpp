#include "loader/decompress.h"

#include <fcntl.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "bundle/shuffle.h"
#include "loader/parallel.h"
#include "loader/read_io.h"
#include "bundle/shuffle.h"

namespace thaw::loader {

namespace {

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// How many chunks ahead of its own a worker asks the kernel to read, so cold reads overlap work.
constexpr uint64_t kReadaheadChunks = 4;

}  // namespace

Status decompress_chunks(int fd, const bundle::Manifest& manifest, std::span<std::byte> dest, int threads,
                         const Clock& clock, DecompressStats* stats) {
  const auto& chunks = manifest.chunks;
  uint64_t max_stored = 0, max_length = 0;
  for (const auto& c : chunks) {
    if (c.data_offset > dest.size() || c.length > dest.size() - c.data_offset)
      return make_error(Code::kCorrupt, "chunk {} [{}, +{}) lies outside the data section of {} bytes", c.id,
                        c.data_offset, c.length, dest.size());
    max_stored = std::max(max_stored, c.stored_length);
    max_length = std::max(max_length, c.length);
  }
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<int64_t> read_ns{0}, work_ns{0};
  std::atomic<uint64_t> stored{0};
  Status s = parallel_for(threads, [&](int) -> Status {
    std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
    if (!dctx) return make_error(Code::kResourceExhausted, "ZSTD_createDCtx failed");
    std::vector<std::byte> in(max_stored);
    std::vector<std::byte> planes(manifest.byte_shuffle ? max_length : 0);
    Nanos my_read{0}, my_work{0};
    Status result;
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) break;
      uint64_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= chunks.size()) break;
      const bundle::ChunkEntry& c = chunks[i];
      uint64_t ahead = i + kReadaheadChunks;
      if (ahead < chunks.size())
        ::posix_fadvise(fd, static_cast<off_t>(chunks[ahead].file_offset),
                        static_cast<off_t>(chunks[ahead].stored_length), POSIX_FADV_WILLNEED);
      Nanos t0 = clock.now();
      std::span<std::byte> src(in.data(), c.stored_length);
      result = pread_full(fd, c.file_offset, src);
      Nanos t1 = clock.now();
      my_read += t1 - t0;
      if (!result.is_ok()) break;
      std::span<std::byte> out = dest.subspan(c.data_offset, c.length);
      std::span<std::byte> target = manifest.byte_shuffle ? std::span<std::byte>(planes.data(), c.length) : out;
      size_t n = ZSTD_decompressDCtx(dctx.get(), target.data(), target.size(), src.data(), src.size());
      if (ZSTD_isError(n)) {
        result = make_error(Code::kCorrupt, "chunk {} at file offset {}: zstd: {}", c.id, c.file_offset,
                            ZSTD_getErrorName(n));
        break;
      }
      if (n != c.length) {
        result = make_error(Code::kCorrupt, "chunk {} decompressed to {} bytes, manifest says {}", c.id, n,
                            c.length);
        break;
      }
      if (manifest.byte_shuffle) bundle::unshuffle_bytes(target, out);
      my_work += clock.now() - t1;
      stored.fetch_add(c.stored_length, std::memory_order_relaxed);
    }
    if (!result.is_ok()) failed = true;
    read_ns += my_read.count();
    work_ns += my_work.count();
    return result;
  });
  if (stats != nullptr) {
    stats->read_time = Nanos{read_ns.load()};
    stats->decompress_time = Nanos{work_ns.load()};
    stats->stored_bytes = stored.load();
  }
  return s;
}

}  // namespace thaw::loader
