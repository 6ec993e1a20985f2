// Fuzzes what `thaw serve` reads from thaw.yaml and admin bodies about a model's source: the URL
// (split into base, path and version) and the expected SHA-256. Neither may crash, and what they
// accept must be what the model store can use.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cache/bundle_fetch.h"
#include "cache/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto url = thaw::cache::parse_source_url(text); url.is_ok()) {
    if (!url->base.starts_with("http://") || url->path.empty() || url->path[0] != '/') std::abort();
    if (!thaw::cache::is_safe_name(url->version)) std::abort();
  }
  if (auto hex = thaw::cache::parse_sha256(text); hex.is_ok() && hex->size() != 64) std::abort();
  return 0;
}
