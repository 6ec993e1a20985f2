// A read-only memory map of a whole file (pack inputs: safetensors, a graph's external data), so large
// weights are borrowed from the page cache instead of copied.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "common/status.h"

namespace thaw::bundle {

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(addr_), size_}; }
  const std::string& path() const { return path_; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace thaw::bundle
