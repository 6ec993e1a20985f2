// The physical limits a load is measured against, measured on this machine: memory copy bandwidth,
// page-cache read bandwidth and sequential storage read bandwidth. Bandwidths are bytes per second.
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace thaw::loader {

// memcpy of `bytes` between two pre-faulted buffers, split over `threads` threads; best of `repeats`.
Result<double> memcpy_bandwidth(uint64_t bytes, int threads, int repeats, const Clock& clock);

// pread of the whole file with `threads` threads, `block` bytes per request, after one warming pass.
// into_fresh_buffer=false: into one pre-faulted buffer the size of the file (the cost of moving the
// bytes from the page cache into RAM the process already owns). true: into a newly allocated buffer
// (adds page faults and zeroing, as any loader that allocates pays). Best of `repeats`.
Result<double> page_cache_read_bandwidth(const std::string& path, int threads, uint64_t block, int repeats,
                                         bool into_fresh_buffer, const Clock& clock);

// Sequential read of the whole file, one thread, `block` bytes per read, from storage: O_DIRECT
// when `direct`, otherwise buffered after evicting the file from the page cache. One pass.
Result<double> storage_read_bandwidth(const std::string& path, uint64_t block, bool direct,
                                      const Clock& clock);

}  // namespace thaw::loader
