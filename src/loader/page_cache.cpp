#include "loader/page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/unique_fd.h"
#include "loader/mapping.h"

namespace thaw::loader {

namespace {

constexpr size_t kWarmChunk = size_t{4} << 20;

Result<UniqueFd> open_read(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    return make_error(errno == ENOENT ? Code::kNotFound : Code::kIo, "cannot open {}: {}", path, std::strerror(errno));
  return fd;
}

}  // namespace

Result<Residency> residency(const std::string& path) {
  THAW_ASSIGN_OR_RETURN(UniqueFd fd, open_read(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(Code::kIo, "stat {}: {}", path, std::strerror(errno));
  Residency r;
  r.file_bytes = static_cast<uint64_t>(st.st_size);
  if (r.file_bytes == 0) return r;
  void* p = ::mmap(nullptr, r.file_bytes, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return make_error(Code::kIo, "mmap {}: {}", path, std::strerror(errno));
  const uint64_t pages = (r.file_bytes + kPageSize - 1) / kPageSize;
  std::vector<unsigned char> vec(pages);
  int rc = ::mincore(p, r.file_bytes, vec.data());
  int err = errno;
  ::munmap(p, r.file_bytes);
  if (rc != 0) return make_error(Code::kIo, "mincore {}: {}", path, std::strerror(err));
  for (uint64_t i = 0; i < pages; ++i)
    if (vec[i] & 1) r.resident_bytes += (i + 1 == pages) ? r.file_bytes - i * kPageSize : kPageSize;
  return r;
}

Status evict(const std::string& path) {
  THAW_ASSIGN_OR_RETURN(UniqueFd fd, open_read(path));
  ::fdatasync(fd.get());
  int rc = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (rc != 0) return make_error(Code::kIo, "posix_fadvise(DONTNEED) {}: {}", path, std::strerror(rc));
  return Status::ok();
}

Status warm_page_cache(const std::string& path) {
  THAW_ASSIGN_OR_RETURN(UniqueFd fd, open_read(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(Code::kIo, "stat {}: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error(Code::kInvalidArgument, "{} is not a regular file", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // Starts readahead of the whole file; the read pass below waits for it and fills any gaps.
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_WILLNEED);
  auto buffer = std::make_unique_for_overwrite<char[]>(kWarmChunk);
  for (uint64_t offset = 0; offset < size;) {
    ssize_t n = ::pread(fd.get(), buffer.get(), std::min<uint64_t>(kWarmChunk, size - offset),
                        static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Code::kIo, "reading {} at {}: {}", path, offset, std::strerror(errno));
    if (n == 0) break;  // the file shrank meanwhile
    offset += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

}  // namespace thaw::loader
