// File and error helpers shared by a bundle fetch's parts (bundle_fetch.cpp, chunk_runs.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace thaw::cache {

// A local write failure: kNoSpace for a full disk or quota, kIo otherwise. `what` names the file.
Status write_error(const std::string& what, int err);
Status pwrite_all(int fd, std::span<const std::byte> bytes, uint64_t offset, const std::string& what);
Status pread_all(int fd, std::string& out, uint64_t offset, uint64_t length);
// A source failure as the caller should report it: kUpstream (404, corrupt or truncated bytes),
// kUnavailable (unreachable, timed out), else the status with the URL as context.
Status source_error(const Status& s, const std::string& url);

}  // namespace thaw::cache
