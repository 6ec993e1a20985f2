// Internal: turns OrtStatus* results of the ONNX Runtime C API into thaw Status values.
#pragma once

#include <string_view>

#include <onnxruntime_c_api.h>

#include "common/status.h"

namespace thaw::engine {

// Consumes `status` (releases it). ORT's invalid-argument style codes map to kInvalidArgument,
// everything else to kInternal/kUnsupported with ORT's message after `context`.
inline Status from_ort(const OrtApi& api, OrtStatus* status, std::string_view context) {
  if (status == nullptr) return Status::ok();
  Code code = Code::kInternal;
  switch (api.GetErrorCode(status)) {
    case ORT_INVALID_ARGUMENT:
    case ORT_INVALID_GRAPH:
    case ORT_INVALID_PROTOBUF:
      code = Code::kInvalidArgument;
      break;
    case ORT_NO_SUCHFILE:
      code = Code::kNotFound;
      break;
    case ORT_NOT_IMPLEMENTED:
    case ORT_NO_MODEL:
      code = Code::kUnsupported;
      break;
    default:
      break;
  }
  Status out = make_error(code, "{}: {}", context, api.GetErrorMessage(status));
  api.ReleaseStatus(status);
  return out;
}

}  // namespace thaw::engine

#define THAW_ORT_TRY(api, expr, context) THAW_TRY(::thaw::engine::from_ort((api), (expr), (context)))
