// Parallel zstd decompression of a compressed bundle's chunks straight into the loaded buffer.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "bundle/bundle.h"
#include "common/clock.h"
#include "common/status.h"

namespace thaw::loader {

struct DecompressStats {
  Nanos read_time{0};        // summed over workers: waiting for pread of stored bytes
  Nanos decompress_time{0};  // summed over workers: zstd + un-shuffling
  uint64_t stored_bytes = 0;
};

// Workers take chunks in order from a shared counter; each preads a chunk's stored bytes (while the
// other workers decompress theirs, so reading overlaps decompression), decompresses it into
// dest[chunk.data_offset, +chunk.length) and un-shuffles it in place of a scratch copy when the
// manifest says chunks are byte-shuffled. `dest` is the whole logical data section.
Status decompress_chunks(int fd, const bundle::Manifest& manifest, std::span<std::byte> dest, int threads,
                         const Clock& clock, DecompressStats* stats);

}  // namespace thaw::loader
