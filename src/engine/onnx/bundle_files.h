// The file entries an ONNX bundle holds, and the name its graph gives the data section.
#pragma once

#include <string_view>

namespace thaw::engine {

// The weightless ONNX graph; its initializers are external references into the data section.
inline constexpr std::string_view kOnnxGraphFile = "graph.onnx";
// The same model in ONNX Runtime's own format with its initializers inside, added at pack time:
// the fastest start (no protobuf parse, no graph optimisation, weights used in place).
inline constexpr std::string_view kOrtModelFile = "graph.ort";
// The external_data "location" graph.onnx uses for the bundle's data section.
inline constexpr std::string_view kDataFileName = "thaw.data";

}  // namespace thaw::engine
