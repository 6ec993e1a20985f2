// Element types shared by the bundle format, the engine and the wire protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace thaw {

enum class DType : uint8_t {
  kF32 = 1, kF16, kBF16, kF64, kI8, kU8, kI16, kU16, kI32, kU32, kI64, kU64, kBool,
};

// Bytes per element.
size_t dtype_size(DType t);
// KServe v2 / Triton names: "FP32", "FP16", "BF16", "FP64", "INT8", "UINT8", ..., "BOOL".
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

}  // namespace thaw
