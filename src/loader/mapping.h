// RAII owner of one virtual memory region: a read-only view of a file range, or a page-aligned
// anonymous allocation. The loader keeps every loaded byte in exactly one of these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"

namespace thaw::loader {

inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kHugePageSize = 2 << 20;

class Mapping {
 public:
  Mapping() = default;
  Mapping(Mapping&& o) noexcept;
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  // Maps `length` bytes of `fd` starting at `offset` read-only (MAP_PRIVATE). `offset` need not be
  // page-aligned; bytes() starts exactly at it. `populate` faults every page in during mmap().
  static Result<Mapping> map_file(int fd, uint64_t offset, uint64_t length, bool populate);
  // A zero-filled, writable allocation of `length` bytes aligned to 2 MiB (so transparent huge pages
  // can back it). `hugepages` asks the kernel for them with MADV_HUGEPAGE.
  static Result<Mapping> allocate(uint64_t length, bool hugepages);

  std::span<std::byte> writable();            // only for allocate()d regions
  std::span<const std::byte> bytes() const { return {data_, length_}; }
  size_t size() const { return length_; }
  bool is_file_backed() const { return file_backed_; }

  // madvise() over the whole region; `what` is MADV_*. kUnsupported when the kernel does not know
  // `what` (EINVAL), kIo for other OS errors.
  Status advise(int what, const char* what_name) const;
  // Pins the region in RAM (mlock). Released when the mapping goes away.
  Status lock();

 private:
  void reset();

  void* base_ = nullptr;        // what mmap returned
  size_t base_length_ = 0;      // what munmap needs
  std::byte* data_ = nullptr;   // first requested byte
  size_t length_ = 0;
  bool file_backed_ = false;
  bool locked_ = false;
};

}  // namespace thaw::loader
