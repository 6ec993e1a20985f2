// Page-cache control for cold-start measurements: how much of a file is resident, and evicting it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace thaw::loader {

struct Residency {
  uint64_t resident_bytes = 0;
  uint64_t file_bytes = 0;
  double fraction() const { return file_bytes == 0 ? 0.0 : double(resident_bytes) / double(file_bytes); }
};

// Counts the file's pages in the page cache (mincore over a read-only mapping).
Result<Residency> residency(const std::string& path);
// Writes back and drops the file's clean pages from the page cache (fdatasync +
// posix_fadvise(DONTNEED)). Pages mapped by running processes stay; check with residency().
Status evict(const std::string& path);
// Reads the whole file into the page cache (posix_fadvise(WILLNEED), then a pread pass), so a
// later open and load of it does no disk reads: promotes a model to the page-cache rung. The
// pages stay until memory pressure or evict() drops them.
Status warm_page_cache(const std::string& path);

}  // namespace thaw::loader
