// Differential fuzzing of the bounded JSON parser against nlohmann's unbounded one: the first
// byte picks the bounds; whatever the bounded parser accepts, nlohmann parses to the same
// document, and whatever nlohmann accepts within the bounds, the bounded parser accepts too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json_limits.h"

namespace {

using json = nlohmann::json;

// Depth of arrays and objects and the number of values as the text holds them, which is how
// JsonLimits counts them: a key given twice counts both values, though the document keeps one.
struct Measure : nlohmann::json_sax<json> {
  size_t depth = 0, max_depth = 0;
  uint64_t values = 0;
  bool value() { return ++values, true; }
  bool open() { return ++values, max_depth = std::max(max_depth, ++depth), true; }
  bool close() { return --depth, true; }
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

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
  Measure m;
  json::sax_parse(text.begin(), text.end(), &m);
  if (m.max_depth <= limits.max_depth && m.values <= limits.max_values) __builtin_trap();
  return 0;
}
