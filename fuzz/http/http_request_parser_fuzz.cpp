// Holds the server's streaming RequestParser against strict_framing(), a plain whole-input reading
// of RFC 9112 framing: whenever either decides, both must agree on whether the first request is
// refused, where it ends and what its body is; and feeding the bytes in pieces (split where the
// input's first byte says) must give the same answer as feeding them at once.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/request_parser.h"
#include "strict_framing.h"

namespace {

using thaw::fuzz::Framing;
using thaw::http::ParserLimits;
using thaw::http::RequestParser;

struct Outcome {
  Framing::Kind kind;
  size_t used = 0;
  std::string body;
  int status = 0;
};

// Limits far above what libFuzzer's inputs reach, so only framing decides.
constexpr ParserLimits kLimits{.max_header_bytes = 1 << 24, .max_body_bytes = 1ull << 40, .max_fields = 1 << 20,
                               .max_chunk_line = 1 << 24};

Outcome run(std::string_view input, size_t step) {
  RequestParser p(kLimits);
  std::string pending;
  size_t offered = 0, used = 0;
  while (!p.done() && !p.failed() && offered < input.size()) {
    const size_t n = step == 0 ? input.size() - offered : std::min(step, input.size() - offered);
    pending.append(input.substr(offered, n));
    offered += n;
    const size_t u = p.feed(pending);
    if (u > pending.size()) __builtin_trap();
    used += u;
    pending.erase(0, u);
  }
  Outcome o;
  o.kind = p.failed() ? Framing::kRefused : p.done() ? Framing::kDone : Framing::kIncomplete;
  o.used = used;
  if (p.failed()) o.status = p.error().status;
  if (p.done()) o.body = p.request().body;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = data[0] % 9;  // 0: all at once
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  const Outcome whole = run(input, 0);
  const Outcome pieces = run(input, step);
  if (whole.kind != pieces.kind || whole.body != pieces.body || (whole.kind == Framing::kDone && whole.used != pieces.used))
    __builtin_trap();  // the answer depends on how the bytes arrived
  if (whole.kind == Framing::kRefused && (whole.status < 400 || whole.status > 505)) __builtin_trap();

  const Framing ref = thaw::fuzz::strict_framing(input);
  if (ref.kind == Framing::kUnknown) return 0;
  if (whole.kind != ref.kind) __builtin_trap();
  if (ref.kind == Framing::kDone && (whole.used != ref.length || whole.body != ref.body)) __builtin_trap();
  return 0;
}
