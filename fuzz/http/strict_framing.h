// A second, deliberately plain reading of RFC 9112 message framing, for the fuzzer to hold the
// server's RequestParser against: it sees the whole input at once, never streams, and decides only
// where the first request ends and what its body is (or that it must be refused). Where the two
// disagree, one of them would let a request be smuggled.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace thaw::fuzz {

struct Framing {
  enum Kind { kIncomplete, kRefused, kDone, kUnknown } kind = kIncomplete;
  size_t length = 0;  // kDone: bytes of the first request, body included
  std::string body;   // kDone: the body, chunked coding removed
};

// kUnknown where the reference does not decide (chunk extensions): the caller skips comparing.
Framing strict_framing(std::string_view input);

}  // namespace thaw::fuzz
