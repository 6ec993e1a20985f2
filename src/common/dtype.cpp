#include "common/dtype.h"

#include <array>
#include <utility>

namespace thaw {
namespace {
struct Entry {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr std::array<Entry, 13> kTable = {{
    {DType::kF32, "FP32", 4}, {DType::kF16, "FP16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kF64, "FP64", 8}, {DType::kI8, "INT8", 1},  {DType::kU8, "UINT8", 1},
    {DType::kI16, "INT16", 2}, {DType::kU16, "UINT16", 2}, {DType::kI32, "INT32", 4},
    {DType::kU32, "UINT32", 4}, {DType::kI64, "INT64", 8}, {DType::kU64, "UINT64", 8},
    {DType::kBool, "BOOL", 1},
}};
}  // namespace

size_t dtype_size(DType t) {
  for (const auto& e : kTable) if (e.type == t) return e.size;
  return 0;
}

std::string_view dtype_name(DType t) {
  for (const auto& e : kTable) if (e.type == t) return e.name;
  return "UNKNOWN";
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kTable) if (e.name == name) return e.type;
  return std::nullopt;
}

}  // namespace thaw
