// Single byte ranges (RFC 9110 §14): which part of a body of known size a request's Range header
// asks for, and the response fields that go with the answer. Multiple ranges are answered with the
// whole body, as the RFC allows.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "http/message.h"

namespace thaw::http {

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

// Parses a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range against `size`. nullopt when the
// header is absent or not a single byte range (serve the whole body); kInvalidArgument (416) when
// it cannot be satisfied.
Result<std::optional<ByteRange>> parse_range(std::optional<std::string_view> header, uint64_t size);

// The part of a `size`-byte body to send: [first, end) with status 200 (whole) or 206 (a range).
struct BodySpan {
  int status = 200;
  uint64_t first = 0;
  uint64_t end = 0;
};

// Applies a request's Range header to a body of `size` bytes, adding Accept-Ranges (and for a
// 206 Content-Range) to `headers`. kInvalidArgument when the range cannot be satisfied: answer
// with range_not_satisfiable().
Result<BodySpan> select_range(std::optional<std::string_view> header, uint64_t size, Headers* headers);

// The 416 answer for a `size`-byte body, with Content-Range "bytes */size".
Response range_not_satisfiable(uint64_t size, const Status& why);

}  // namespace thaw::http
