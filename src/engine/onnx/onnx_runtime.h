// The steps of the ONNX plugin that need ONNX Runtime. Builds without it compile
// onnx_runtime_unavailable.cpp instead: have_onnx_runtime() is false and the rest fail clearly.
#pragma once

#include <memory>

#include "bundle/pack.h"
#include "common/status.h"
#include "engine/backend.h"
#include "engine/onnx/onnx_backend.h"
#include "loader/loader.h"

namespace thaw::engine {

bool have_onnx_runtime();

// A backend over a loaded bundle: graph.ort used in place when the bundle has it, else graph.onnx
// with its weights read from the data section. The backend owns its OrtEnvironment; `bundle` must
// outlive it.
Result<std::unique_ptr<Backend>> create_onnx_backend(const loader::LoadedBundle& bundle,
                                                     const OnnxOptions& options);

// Adds graph.ort to packed ONNX contents (the graph optimised once, here, saved in ORT's format)
// and records the library's version in metadata["ort_version"]: the format is tied to it.
Status add_ort_format(bundle::PackedModel& model);

}  // namespace thaw::engine
