#include "cache/fetch_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace thaw::cache {

Status write_error(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT)
    return make_error(Code::kNoSpace, "the model store's disk is full writing {} ({})", what, std::strerror(err));
  return make_error(Code::kIo, "cannot write {}: {}", what, std::strerror(err));
}

Status pwrite_all(int fd, std::span<const std::byte> bytes, uint64_t offset, const std::string& what) {
  uint64_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return write_error(what, errno);
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status pread_all(int fd, std::string& out, uint64_t offset, uint64_t length) {
  out.resize(length);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(Code::kIo, "short read");
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status source_error(const Status& s, const std::string& url) {
  switch (s.code()) {
    case Code::kNotFound: return make_error(Code::kUpstream, "source {} has no such bundle (404)", url);
    case Code::kCorrupt:
    case Code::kInvalidArgument:
    case Code::kUnsupported:
      return make_error(Code::kUpstream, "source {} sent a truncated or corrupt bundle: {}", url, s.message());
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kIo: return make_error(Code::kUnavailable, "source {} is unreachable: {}", url, s.message());
    default: return s.with_context(fmt::format("source {}", url));
  }
}

}  // namespace thaw::cache
