#include "engine/onnx/onnx_dtype.h"

namespace thaw::engine {
namespace {
// ONNX TensorProto.DataType numbers.
enum : int {
  kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kBool = 9,
  kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13, kBfloat16 = 16,
};
}  // namespace

std::optional<DType> dtype_from_onnx(int element_type) {
  switch (element_type) {
    case kFloat: return DType::kF32;
    case kUint8: return DType::kU8;
    case kInt8: return DType::kI8;
    case kUint16: return DType::kU16;
    case kInt16: return DType::kI16;
    case kInt32: return DType::kI32;
    case kInt64: return DType::kI64;
    case kBool: return DType::kBool;
    case kFloat16: return DType::kF16;
    case kDouble: return DType::kF64;
    case kUint32: return DType::kU32;
    case kUint64: return DType::kU64;
    case kBfloat16: return DType::kBF16;
    default: return std::nullopt;
  }
}

int onnx_from_dtype(DType dtype) {
  switch (dtype) {
    case DType::kF32: return kFloat;
    case DType::kF16: return kFloat16;
    case DType::kBF16: return kBfloat16;
    case DType::kF64: return kDouble;
    case DType::kI8: return kInt8;
    case DType::kU8: return kUint8;
    case DType::kI16: return kInt16;
    case DType::kU16: return kUint16;
    case DType::kI32: return kInt32;
    case DType::kU32: return kUint32;
    case DType::kI64: return kInt64;
    case DType::kU64: return kUint64;
    case DType::kBool: return kBool;
  }
  return 0;
}

}  // namespace thaw::engine
