#include "loader/limits.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "loader/mapping.h"
#include "loader/page_cache.h"
#include "loader/parallel.h"
#include "loader/read_io.h"

namespace thaw::loader {

namespace {

Result<UniqueFd> open_file(const std::string& path, int extra_flags, uint64_t* size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags));
  if (!fd.valid())
    return make_error(errno == ENOENT ? Code::kNotFound : Code::kIo, "cannot open {}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(Code::kIo, "stat {}: {}", path, std::strerror(errno));
  *size = static_cast<uint64_t>(st.st_size);
  if (*size == 0) return make_error(Code::kInvalidArgument, "{} is empty", path);
  return fd;
}

double rate(uint64_t bytes, Nanos d) { return d.count() <= 0 ? 0.0 : double(bytes) / to_seconds(d); }

}  // namespace

Result<double> memcpy_bandwidth(uint64_t bytes, int threads, int repeats, const Clock& clock) {
  if (threads < 1 || repeats < 1 || bytes == 0) return make_error(Code::kInvalidArgument, "bad memcpy parameters");
  THAW_ASSIGN_OR_RETURN(Mapping src, Mapping::allocate(bytes, true));
  THAW_ASSIGN_OR_RETURN(Mapping dst, Mapping::allocate(bytes, true));
  std::memset(src.writable().data(), 1, bytes);
  std::memset(dst.writable().data(), 0, bytes);
  const uint64_t per = (bytes / static_cast<uint64_t>(threads) + kPageSize - 1) & ~uint64_t{kPageSize - 1};
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    Nanos t0 = clock.now();
    (void)parallel_for(threads, [&](int w) -> Status {
      uint64_t start = std::min<uint64_t>(bytes, per * static_cast<uint64_t>(w));
      uint64_t end = std::min<uint64_t>(bytes, start + per);
      if (end > start) std::memcpy(dst.writable().data() + start, src.bytes().data() + start, end - start);
      return Status::ok();
    });
    best = std::max(best, rate(bytes, clock.now() - t0));
  }
  return best;
}

Result<double> page_cache_read_bandwidth(const std::string& path, int threads, uint64_t block, int repeats,
                                         bool into_fresh_buffer, const Clock& clock) {
  if (threads < 1 || repeats < 1) return make_error(Code::kInvalidArgument, "bad read parameters");
  uint64_t size = 0;
  THAW_ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, 0, &size));
  Mapping reused;
  if (!into_fresh_buffer) {
    THAW_ASSIGN_OR_RETURN(reused, Mapping::allocate(size, true));
    std::memset(reused.writable().data(), 0, size);
  }
  {
    // Warm the page cache (and the reused buffer) once, untimed.
    Mapping warm;
    if (into_fresh_buffer) {
      THAW_ASSIGN_OR_RETURN(warm, Mapping::allocate(size, true));
    }
    std::span<std::byte> dest = into_fresh_buffer ? warm.writable() : reused.writable();
    THAW_TRY(pread_parallel(fd.get(), 0, dest, threads, block));
  }
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    Nanos t0 = clock.now();
    Mapping fresh;
    if (into_fresh_buffer) {
      THAW_ASSIGN_OR_RETURN(fresh, Mapping::allocate(size, true));
    }
    std::span<std::byte> dest = into_fresh_buffer ? fresh.writable() : reused.writable();
    THAW_TRY(pread_parallel(fd.get(), 0, dest, threads, block));
    best = std::max(best, rate(size, clock.now() - t0));
  }
  return best;
}

Result<double> storage_read_bandwidth(const std::string& path, uint64_t block, bool direct, const Clock& clock) {
  if (block == 0 || block % kPageSize != 0)
    return make_error(Code::kInvalidArgument, "block must be a positive multiple of {}", kPageSize);
  if (!direct) THAW_TRY(evict(path));
  uint64_t size = 0;
  THAW_ASSIGN_OR_RETURN(UniqueFd fd, open_file(path, direct ? O_DIRECT : 0, &size));
  if (!direct) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  THAW_ASSIGN_OR_RETURN(Mapping buf, Mapping::allocate(block, false));
  std::memset(buf.writable().data(), 0, block);
  Nanos t0 = clock.now();
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd.get(), buf.writable().data(), block, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Code::kIo, "read {} at {}: {}", path, done, std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  return rate(done, clock.now() - t0);
}

}  // namespace thaw::loader
