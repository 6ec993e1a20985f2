// Built when ONNX Runtime is absent: ONNX models still pack (without graph.ort), but do not run.
#include "engine/onnx/onnx_runtime.h"

namespace thaw::engine {

bool have_onnx_runtime() { return false; }

Result<std::unique_ptr<Backend>> create_onnx_backend(const loader::LoadedBundle&, const OnnxOptions&) {
  return make_error(Code::kUnsupported,
                    "this build of thaw has no ONNX Runtime; rebuild after scripts/setup.sh");
}

Status add_ort_format(bundle::PackedModel&) {
  return make_error(Code::kUnsupported, "this build of thaw has no ONNX Runtime to write graph.ort with");
}

}  // namespace thaw::engine
