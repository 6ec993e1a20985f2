// Reads a file range into memory as fast as the page cache or the disk allows.
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"

namespace thaw::loader {

// Fills `dest` with the file bytes at [offset, offset + dest.size()) using `threads` threads, each
// taking `block`-sized pieces from a shared counter. A short file is kCorrupt, a failed read kIo.
Status pread_parallel(int fd, uint64_t offset, std::span<std::byte> dest, int threads, uint64_t block);

// Same bytes with one io_uring ring keeping `queue_depth` reads of `block` bytes in flight.
Status read_io_uring(int fd, uint64_t offset, std::span<std::byte> dest, uint64_t block, unsigned queue_depth);

// True when a few pages of [offset, offset + length) (first, middle, last) are not in the page cache,
// probed with preadv2(RWF_NOWAIT), which never waits for storage.
bool looks_uncached(int fd, uint64_t offset, uint64_t length);

// pread until `dest` is full; kCorrupt if the file ends first.
Status pread_full(int fd, uint64_t offset, std::span<std::byte> dest);

}  // namespace thaw::loader
