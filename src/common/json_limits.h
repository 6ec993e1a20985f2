// Parsing JSON from the network with bounds: how deep it nests and how many values it holds are
// checked while it is read, so a small body cannot make the parser build gigabytes of DOM (each
// value costs a few dozen bytes however short its text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace thaw {

struct JsonLimits {
  size_t max_depth = 32;            // arrays and objects inside one another
  uint64_t max_values = 1u << 20;   // scalars, arrays and objects (object keys not counted)
};

// What errors call the bounds (a flag or configuration key).
struct JsonLimitNames {
  std::string_view depth = "max_json_depth";
  std::string_view values = "max_json_values";
};

// Parses `text` as one JSON document: kInvalidArgument for text that is not JSON or nests deeper
// than max_depth, kResourceExhausted (HTTP 413) for more than max_values values, each error naming
// its bound. Parsing stops at the first bound crossed, before allocating for what lies beyond.
Result<nlohmann::json> parse_json_bounded(std::string_view text, const JsonLimits& limits,
                                          const JsonLimitNames& names = {});

}  // namespace thaw
