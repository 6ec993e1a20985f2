// Fuzzes the KServe v2 /infer request decoder (JSON and binary extension) and re-encodes what it
// accepts. The first byte picks the header-length mode so binary bodies get explored too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/kserve_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::optional<uint64_t> header_length;
  if (mode & 1) {
    // Header length: the first '\n' in the body if any (seed files use one), else mode-derived.
    size_t nl = body.find('\n');
    header_length = nl != std::string_view::npos ? nl : (mode >> 1) % (body.size() + 2);
  }
  thaw::worker::DecodeLimits limits;
  limits.max_elements = 1 << 20;
  auto r = thaw::worker::decode_infer_request(body, header_length, limits);
  if (!r.is_ok()) return 0;
  std::vector<thaw::worker::OutputTensorView> outs;
  for (const auto& in : r->inputs) {
    size_t expected = static_cast<size_t>(in.element_count()) *
                      (in.type.bytes ? 0 : thaw::dtype_size(in.type.dtype));
    if (!in.type.bytes && in.data.size() != expected) __builtin_trap();
    if (in.type.bytes && in.strings.size() != static_cast<size_t>(in.element_count())) __builtin_trap();
    outs.push_back({in.name, in.type, in.shape, in.data, in.strings, (mode & 2) != 0});
  }
  auto enc = thaw::worker::encode_infer_response("m", "1", r->id, outs);
  if (enc.header_length && *enc.header_length > enc.body.size()) __builtin_trap();
  // The bound that refuses answers before they are built must hold for every answer.
  if (enc.body.size() > thaw::worker::encoded_size_bound(outs)) __builtin_trap();
  return 0;
}
