// Differential fuzzing of the bounded JSON parser against nlohmann's unbounded one: the first
// byte picks the bounds; whatever the bounded parser accepts, nlohmann parses to the same
// document, and whatever nlohmann accepts within the bounds, the bounded parser accepts too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json_limits.h"

namespace {

using json = nlohmann::json;

// Depth of arrays and objects and the number of values, as JsonLimits counts them.
void measure(const json& j, size_t depth, size_t& max_depth, uint64_t& values) {
  ++values;
  if (!j.is_structured()) return;
  max_depth = std::max(max_depth, depth + 1);
  for (const auto& child : j) measure(child, depth + 1, max_depth, values);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  thaw::JsonLimits limits;
  limits.max_depth = 1 + data[0] % 16;
  limits.max_values = 1 + (data[0] >> 4) * 8;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto bounded = thaw::parse_json_bounded(text, limits);
  json plain = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (bounded.is_ok()) {
    if (plain.is_discarded() || plain != *bounded) __builtin_trap();
    return 0;
  }
  if (plain.is_discarded()) return 0;
  size_t depth = 0;
  uint64_t values = 0;
  measure(plain, 0, depth, values);
  if (depth <= limits.max_depth && values <= limits.max_values) __builtin_trap();
  return 0;
}
