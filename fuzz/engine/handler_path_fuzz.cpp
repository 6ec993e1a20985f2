// libFuzzer: bundle file names as the Python handler unpacker judges them. Any name it accepts
// must stay inside the handler's folder once joined and normalised, and must not be one of the
// unpacker's own files.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "engine/python/handler_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  if (!thaw::engine::is_safe_handler_path(name)) return 0;
  namespace fs = std::filesystem;
  const fs::path root("/cache/handler");
  const fs::path joined = (root / fs::path(std::string(name))).lexically_normal();
  const fs::path rel = joined.lexically_relative(root);
  if (rel.empty() || *rel.begin() == ".." || joined.is_relative() || rel.string().starts_with(".thaw-"))
    std::abort();
  for (const auto& part : fs::path(std::string(name)))
    if (part == ".." || part == ".") std::abort();
  return 0;
}
