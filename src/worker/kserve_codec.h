// The Open Inference Protocol (KServe v2) REST codec: decodes /infer request bodies (JSON tensors,
// nested or flat row-major, and the binary-tensor extension) and encodes responses. Pure
// functions on bytes, so the parser can be fuzzed; it never trusts a length, count or shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/dtype.h"
#include "common/json_limits.h"
#include "common/status.h"

namespace thaw::worker {

// A wire datatype: a numeric DType, or BYTES (variable-length strings).
struct WireType {
  bool bytes = false;
  DType dtype = DType::kF32;  // meaningful when !bytes

  static std::optional<WireType> from_name(std::string_view name);
  std::string_view name() const;
  friend bool operator==(const WireType&, const WireType&) = default;
};

struct WireTensor {
  std::string name;
  WireType type;
  std::vector<int64_t> shape;
  // Numeric data, little-endian row-major. Points into `owned` (decoded from JSON) or into the
  // request body (binary extension), which must outlive the tensor.
  std::span<const std::byte> data;
  std::vector<std::byte> owned;
  std::vector<std::string> strings;  // BYTES elements, row-major

  int64_t element_count() const;
};

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferRequest {
  std::string id;
  std::vector<WireTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output
  bool binary_output_default = false;    // parameters.binary_data_output
};

// Bounds on what a request body may hold, checked while decoding; errors name the bound.
struct DecodeLimits {
  JsonLimits json;           // nesting and values anywhere in the JSON (parameters included)
  size_t max_inputs = 64;
  size_t max_outputs = 64;   // entries in "outputs"
  size_t max_rank = 16;
  uint64_t max_elements = uint64_t{1} << 32;
};

// Decodes an /infer body. `header_length` is the Inference-Header-Content-Length header, if any:
// the JSON is then the first `header_length` bytes and binary tensors follow. Errors are
// kInvalidArgument (or kUnsupported) with a message naming the offending field or tensor, and
// kResourceExhausted naming the bound for a body over `limits`.
// Binary tensors point into `body`.
Result<InferRequest> decode_infer_request(std::string_view body,
                                          std::optional<uint64_t> header_length,
                                          const DecodeLimits& limits = {});

// Parses an Inference-Header-Content-Length value.
Result<uint64_t> parse_header_length(std::string_view value);

// Elements in `shape`, or an error on a negative dimension or overflow past `max_elements`.
Result<int64_t> checked_element_count(std::span<const int64_t> shape, uint64_t max_elements);

struct OutputTensorView {
  std::string_view name;
  WireType type;
  std::span<const int64_t> shape;
  std::span<const std::byte> data;          // numeric
  std::span<const std::string> strings;     // BYTES
  bool binary = false;                      // send as binary extension
};

struct EncodedResponse {
  std::string body;
  std::optional<uint64_t> header_length;  // set when binary outputs follow the JSON header
};

// The most bytes encode_infer_response() can produce for `outputs` (JSON numbers at their
// longest), so an answer over a bound is refused before it is built.
uint64_t encoded_size_bound(std::span<const OutputTensorView> outputs);

// Encodes {"model_name", "model_version", "id", "outputs": [...]}; JSON outputs carry "data"
// as a flat row-major array, binary ones carry parameters.binary_data_size and their bytes follow
// the JSON in order.
EncodedResponse encode_infer_response(std::string_view model_name, std::string_view model_version,
                                      std::string_view id, std::span<const OutputTensorView> outputs);

}  // namespace thaw::worker
