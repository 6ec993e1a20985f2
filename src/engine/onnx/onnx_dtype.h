// Element-type codes shared by ONNX's TensorProto.DataType and ORT's ONNXTensorElementDataType
// (the two enumerations use the same numbers), mapped to thaw's DType.
#pragma once

#include <optional>

#include "common/dtype.h"

namespace thaw::engine {

// Returns nullopt for element types thaw does not carry (string, complex, float8, int4, ...).
std::optional<DType> dtype_from_onnx(int element_type);
int onnx_from_dtype(DType dtype);

}  // namespace thaw::engine
