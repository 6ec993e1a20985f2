#include "http/range.h"

#include <charconv>

#include <fmt/format.h>

namespace thaw::http {

Result<std::optional<ByteRange>> parse_range(std::optional<std::string_view> header, uint64_t size) {
  if (!header) return std::optional<ByteRange>();
  std::string_view v = *header;
  if (v.substr(0, 6) != "bytes=" || v.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  v.remove_prefix(6);
  size_t dash = v.find('-');
  if (dash == std::string_view::npos)
    return make_error(Code::kInvalidArgument, "malformed Range '{}'", *header);
  auto num = [](std::string_view s, uint64_t* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  };
  std::string_view a = v.substr(0, dash), b = v.substr(dash + 1);
  ByteRange r;
  if (a.empty()) {
    uint64_t n = 0;
    if (!num(b, &n) || n == 0 || size == 0)
      return make_error(Code::kInvalidArgument, "unsatisfiable Range '{}'", *header);
    r.first = size - std::min(n, size);
    r.last = size - 1;
    return std::optional<ByteRange>(r);
  }
  if (!num(a, &r.first)) return make_error(Code::kInvalidArgument, "malformed Range '{}'", *header);
  if (b.empty()) {
    r.last = size == 0 ? 0 : size - 1;
  } else if (!num(b, &r.last) || r.last < r.first) {
    return make_error(Code::kInvalidArgument, "malformed Range '{}'", *header);
  }
  if (r.first >= size)
    return make_error(Code::kInvalidArgument, "Range '{}' starts past the {}-byte end", *header, size);
  r.last = std::min(r.last, size - 1);
  return std::optional<ByteRange>(r);
}

Result<BodySpan> select_range(std::optional<std::string_view> header, uint64_t size, Headers* headers) {
  THAW_ASSIGN_OR_RETURN(std::optional<ByteRange> range, parse_range(header, size));
  headers->emplace_back("Accept-Ranges", "bytes");
  if (!range) return BodySpan{200, 0, size};
  headers->emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", range->first, range->last, size));
  return BodySpan{206, range->first, range->last + 1};
}

Response range_not_satisfiable(uint64_t size, const Status& why) {
  Response r = Response::error(416, why.message());
  r.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
  return r;
}

}  // namespace thaw::http
