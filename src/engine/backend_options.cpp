#include "engine/backend_options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>

namespace thaw::engine {
namespace {

const OptionSpec* find_spec(std::span<const OptionSpec> specs, std::string_view key) {
  for (const OptionSpec& s : specs)
    if (s.key == key) return &s;
  return nullptr;
}

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// What a value must look like: "one of a, b" / "an integer in [0, 8]" / "any value".
std::string value_rule(const OptionSpec& s) {
  if (!s.choices.empty()) return fmt::format("one of {}", fmt::join(s.choices, ", "));
  if (s.range) return fmt::format("an integer in [{}, {}]", s.range->first, s.range->second);
  return "a non-empty value";
}

Status check_value(const OptionSpec& s, std::string_view value, std::string_view owner) {
  bool ok = !value.empty();
  if (ok && !s.choices.empty()) {
    ok = false;
    for (const auto& c : s.choices) ok |= c == value;
  }
  if (ok && s.range) {
    auto v = parse_int(value);
    ok = v && *v >= s.range->first && *v <= s.range->second;
  }
  if (ok) return Status::ok();
  return make_error(Code::kInvalidArgument, "{} option {}='{}': the value must be {}", owner, s.key, value,
                    value_rule(s));
}

Status unknown_key(std::span<const OptionSpec> specs, std::string_view key, std::string_view owner) {
  if (specs.empty()) return make_error(Code::kInvalidArgument, "{} takes no options (got '{}')", owner, key);
  std::vector<std::string_view> keys;
  for (const OptionSpec& s : specs) keys.push_back(s.key);
  return make_error(Code::kInvalidArgument, "{} has no option '{}'; valid keys: {}", owner, key,
                    fmt::join(keys, ", "));
}

}  // namespace

Result<BackendOptions> BackendOptions::parse(std::span<const std::string> items,
                                             std::span<const OptionSpec> specs, std::string_view owner) {
  BackendOptions out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return make_error(Code::kInvalidArgument, "backend option '{}' is not key=value", item);
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    const OptionSpec* spec = find_spec(specs, key);
    if (spec == nullptr) return unknown_key(specs, key, owner);
    THAW_TRY(check_value(*spec, value, owner));
    if (!out.values_.emplace(key, value).second)
      return make_error(Code::kInvalidArgument, "{} option '{}' is given twice", owner, key);
  }
  for (const OptionSpec& s : specs)
    if (!s.default_value.empty()) out.values_.emplace(s.key, s.default_value);
  return out;
}

std::string_view BackendOptions::value(std::string_view key) const {
  auto it = values_.find(key);
  return it == values_.end() ? std::string_view() : std::string_view(it->second);
}

int64_t BackendOptions::integer(std::string_view key) const { return parse_int(value(key)).value_or(0); }

std::string describe_options(std::span<const OptionSpec> specs) {
  std::string out;
  for (const OptionSpec& s : specs) {
    std::string values = !s.choices.empty() ? fmt::format("{}", fmt::join(s.choices, "|"))
                         : s.range          ? fmt::format("{}..{}", s.range->first, s.range->second)
                                            : "VALUE";
    out += fmt::format("  {}={}{}: {}\n", s.key, values,
                       s.default_value.empty() ? "" : fmt::format(" (default {})", s.default_value), s.help);
  }
  return out;
}

}  // namespace thaw::engine
