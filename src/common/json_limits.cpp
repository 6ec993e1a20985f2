#include "common/json_limits.h"

namespace thaw {
namespace {

using json = nlohmann::json;

// nlohmann's own DOM builder, with every event counted first; returning false stops the parse.
class BoundedDom {
 public:
  enum class Broke { kNone, kSyntax, kDepth, kValues };

  BoundedDom(json& root, const JsonLimits& limits) : dom_(root, /*allow_exceptions=*/false), limits_(limits) {}

  bool null() { return value() && dom_.null(); }
  bool boolean(bool v) { return value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return value() && dom_.number_float(v, s); }
  bool string(json::string_t& v) { return value() && dom_.string(v); }
  bool binary(json::binary_t& v) { return value() && dom_.binary(v); }
  bool start_object(std::size_t n) { return open() && dom_.start_object(n); }
  bool key(json::string_t& v) { return dom_.key(v); }
  bool end_object() { return close() && dom_.end_object(); }
  bool start_array(std::size_t n) { return open() && dom_.start_array(n); }
  bool end_array() { return close() && dom_.end_array(); }
  bool parse_error(std::size_t at, const std::string& token, const nlohmann::detail::exception& e) {
    if (broke_ == Broke::kNone) broke_ = Broke::kSyntax;
    (void)dom_.parse_error(at, token, e);
    return false;
  }

  Broke broke() const { return broke_; }

 private:
  bool value() {
    if (++values_ <= limits_.max_values) return true;
    broke_ = Broke::kValues;
    return false;
  }
  bool open() {
    if (!value()) return false;
    if (++depth_ <= limits_.max_depth) return true;
    broke_ = Broke::kDepth;
    return false;
  }
  bool close() {
    --depth_;
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonLimits& limits_;
  uint64_t values_ = 0;
  size_t depth_ = 0;
  Broke broke_ = Broke::kNone;
};

}  // namespace

Result<json> parse_json_bounded(std::string_view text, const JsonLimits& limits, const JsonLimitNames& names) {
  json root;
  BoundedDom sax(root, limits);
  const bool ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, /*strict=*/true);
  if (ok && sax.broke() == BoundedDom::Broke::kNone) return root;
  switch (sax.broke()) {
    case BoundedDom::Broke::kDepth:
      return make_error(Code::kInvalidArgument, "the JSON nests deeper than {}={}", names.depth, limits.max_depth);
    case BoundedDom::Broke::kValues:
      return make_error(Code::kResourceExhausted, "the JSON holds more than {}={} values", names.values,
                        limits.max_values);
    default:
      return make_error(Code::kInvalidArgument, "request body is not valid JSON");
  }
}

}  // namespace thaw
