// Fuzzes both directions of ModelInfer's translation: any protobuf bytes as a request to the REST
// binary-tensor form, and any REST answer (JSON header, binary tail) back to a gRPC reply. Neither
// may crash, read past its input or allocate without bound; every failure is a status.
#include <cstddef>
#include <cstdint>
#include <string>

#include "grpc/infer_mapping.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const size_t header = static_cast<size_t>(data[1]) | static_cast<size_t>(data[2]) << 8;
  std::string rest(reinterpret_cast<const char*>(data + 3), size - 3);
  if (mode & 1) {
    thaw::http::Response response;
    response.body = std::move(rest);
    if (mode & 2) response.headers.emplace_back("Inference-Header-Content-Length", std::to_string(header));
    inference::ModelInferResponse out;
    (void)thaw::grpc_front::from_rest_infer(response, &out);
  } else {
    inference::ModelInferRequest in;
    if (!in.ParseFromString(rest)) return 0;
    thaw::http::Request out;
    (void)thaw::grpc_front::to_rest_infer(in, &out);
  }
  return 0;
}
