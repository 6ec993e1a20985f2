#include "loader/mapping.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace thaw::loader {

namespace {
std::string os_error() { return std::strerror(errno); }
}  // namespace

Mapping::Mapping(Mapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)),
      base_length_(std::exchange(o.base_length_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      length_(std::exchange(o.length_, 0)),
      file_backed_(o.file_backed_),
      locked_(std::exchange(o.locked_, false)) {}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    base_ = std::exchange(o.base_, nullptr);
    base_length_ = std::exchange(o.base_length_, 0);
    data_ = std::exchange(o.data_, nullptr);
    length_ = std::exchange(o.length_, 0);
    file_backed_ = o.file_backed_;
    locked_ = std::exchange(o.locked_, false);
  }
  return *this;
}

Mapping::~Mapping() { reset(); }

void Mapping::reset() {
  if (base_ != nullptr) {
    if (locked_) ::munlock(base_, base_length_);
    ::munmap(base_, base_length_);
  }
  base_ = nullptr;
  base_length_ = 0;
  data_ = nullptr;
  length_ = 0;
  locked_ = false;
}

Result<Mapping> Mapping::map_file(int fd, uint64_t offset, uint64_t length, bool populate) {
  Mapping m;
  m.file_backed_ = true;
  if (length == 0) return m;
  uint64_t aligned = offset & ~uint64_t{kPageSize - 1};
  uint64_t lead = offset - aligned;
  int flags = MAP_PRIVATE | (populate ? MAP_POPULATE : 0);
  void* p = ::mmap(nullptr, length + lead, PROT_READ, flags, fd, static_cast<off_t>(aligned));
  if (p == MAP_FAILED)
    return make_error(Code::kIo, "mmap of {} bytes at offset {} failed: {}", length, offset, os_error());
  m.base_ = p;
  m.base_length_ = length + lead;
  m.data_ = static_cast<std::byte*>(p) + lead;
  m.length_ = length;
  return m;
}

Result<Mapping> Mapping::allocate(uint64_t length, bool hugepages) {
  Mapping m;
  if (length == 0) return m;
  // Over-allocate so the usable region can start on a 2 MiB boundary, then trim both ends.
  uint64_t padded = length + kHugePageSize;
  void* p = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return make_error(Code::kResourceExhausted, "allocating {} bytes failed: {}", length, os_error());
  auto addr = reinterpret_cast<uintptr_t>(p);
  uintptr_t start = (addr + kHugePageSize - 1) & ~uintptr_t{kHugePageSize - 1};
  uintptr_t end = (start + length + kPageSize - 1) & ~uintptr_t{kPageSize - 1};
  if (start > addr) ::munmap(p, start - addr);
  if (addr + padded > end) ::munmap(reinterpret_cast<void*>(end), addr + padded - end);
  m.base_ = reinterpret_cast<void*>(start);
  m.base_length_ = end - start;
  m.data_ = reinterpret_cast<std::byte*>(start);
  m.length_ = length;
  if (hugepages) THAW_TRY(m.advise(MADV_HUGEPAGE, "MADV_HUGEPAGE"));
  return m;
}

std::span<std::byte> Mapping::writable() {
  if (file_backed_) return {};
  return {data_, length_};
}

Status Mapping::advise(int what, const char* what_name) const {
  if (base_ == nullptr) return Status::ok();
  if (::madvise(base_, base_length_, what) != 0) {
    int err = errno;
    return make_error(err == EINVAL ? Code::kUnsupported : Code::kIo, "madvise({}) failed: {}", what_name,
                      std::strerror(err));
  }
  return Status::ok();
}

Status Mapping::lock() {
  if (base_ == nullptr || locked_) return Status::ok();
  if (::mlock(base_, base_length_) != 0)
    return make_error(Code::kResourceExhausted, "mlock of {} bytes failed: {} (check RLIMIT_MEMLOCK)",
                      base_length_, os_error());
  locked_ = true;
  return Status::ok();
}

}  // namespace thaw::loader
