// ModelInfer as the REST binary-tensor form (a JSON header, then each tensor's raw bytes; the
// Inference-Header-Content-Length header says where the JSON ends) and the REST answer back as
// raw_output_contents. The raw bytes pass through without a JSON round trip either way.
#pragma once

#include <grpcpp/support/status.h>

#include "http/message.h"
#include "inference.pb.h"

namespace thaw::grpc_front {

// The REST /infer request for `in`. Typed contents (int64_contents, fp32_contents, ...) become raw
// bytes; INVALID_ARGUMENT names the input whose contents do not fit its datatype.
::grpc::Status to_rest_infer(const inference::ModelInferRequest& in, http::Request* out);

// Fills `out` from a 2xx REST /infer answer: every output in raw_output_contents, whether the
// answer carried it as binary or as JSON data.
::grpc::Status from_rest_infer(const http::Response& response, inference::ModelInferResponse* out);

}  // namespace thaw::grpc_front
