// Backend options: the `--backend-opt key=value` pairs a plugin takes at pack time or when it
// creates a backend, declared by the plugin as OptionSpecs and checked here, so every backend
// rejects unknown keys and bad values with the same kind of message.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace thaw::engine {

// One option a plugin takes.
struct OptionSpec {
  std::string key;
  std::string help;
  std::string default_value;                         // applies when the key is not given; empty: none
  std::vector<std::string> choices;                  // non-empty: the value must be one of these
  std::optional<std::pair<int64_t, int64_t>> range;  // set: an integer within [first, second]
  // An older command-line spelling that keeps working, e.g. "--level" taking the value; with
  // `alias_value` it is a flag meaning key=alias_value (e.g. "--fast" for level=fast).
  std::string alias;
  std::string alias_value;
};

// Options checked against a plugin's specs, with the specs' defaults filled in.
class BackendOptions {
 public:
  // Parses "key=value" items. `owner` names who takes them in errors ("backend 'onnx'").
  // kInvalidArgument for an item without '=', a key given twice, a key no spec declares (the
  // message lists the valid keys) or a value outside the spec's choices or range.
  static Result<BackendOptions> parse(std::span<const std::string> items, std::span<const OptionSpec> specs,
                                      std::string_view owner);

  // The given value, else the spec's default; empty when neither.
  std::string_view value(std::string_view key) const;
  // value() of a spec with a range, as an integer (0 when absent).
  int64_t integer(std::string_view key) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// "key=a|b|c (default a): help" per spec, one per line, for --help texts.
std::string describe_options(std::span<const OptionSpec> specs);

}  // namespace thaw::engine
