// Reads the external-data references of an ONNX graph (ModelProto bytes) without ONNX Runtime:
// which initializers live outside the graph, where, and with what type and shape.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"

namespace thaw::engine {

struct ExternalInitializer {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string location;  // external_data "location", e.g. "thaw.data"
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Top-level graph initializers stored as external data. kInvalidArgument for bytes that are not a
// ModelProto or references with missing/garbled offset/length; kUnsupported for element types
// thaw does not carry.
Result<std::vector<ExternalInitializer>> list_external_initializers(std::string_view graph_bytes);

}  // namespace thaw::engine
