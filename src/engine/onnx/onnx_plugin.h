// The ONNX backend plugin (manifest.backend "onnx"): packs *.onnx models, adding graph.ort when
// this build has ONNX Runtime; runs them on ONNX Runtime with weights used in place.
#pragma once

#include <memory>

#include "engine/plugin.h"

namespace thaw::engine {

inline constexpr std::string_view kOnnxBackendName = "onnx";

std::unique_ptr<Plugin> make_onnx_plugin();

}  // namespace thaw::engine
