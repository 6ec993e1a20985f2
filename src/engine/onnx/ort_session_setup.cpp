#include "engine/onnx/ort_session_setup.h"

#include <string>

#include "engine/onnx/onnx_dtype.h"
#include "engine/onnx/onnx_graph.h"
#include "engine/onnx/ort_status.h"

namespace thaw::engine {
namespace {

GraphOptimizationLevel ort_level(GraphOptimization level) {
  switch (level) {
    case GraphOptimization::kNone: return ORT_DISABLE_ALL;
    case GraphOptimization::kBasic: return ORT_ENABLE_BASIC;
    case GraphOptimization::kExtended: return ORT_ENABLE_EXTENDED;
    case GraphOptimization::kAll: return ORT_ENABLE_ALL;
  }
  return ORT_DISABLE_ALL;
}

Status set_config(const OrtApi& api, OrtSessionOptions* so, const char* key, const char* value) {
  return from_ort(api, api.AddSessionConfigEntry(so, key, value),
                  std::string("setting session option ") + key);
}

}  // namespace

Result<OrtPtr<OrtSessionOptions>> make_session_options(const OrtApi& api, const OnnxOptions& options) {
  if (options.intra_op_threads < 0 || options.inter_op_threads < 0) {
    return make_error(Code::kInvalidArgument, "thread counts must be >= 0 (0: ORT's default)");
  }
  OrtSessionOptions* raw = nullptr;
  THAW_ORT_TRY(api, api.CreateSessionOptions(&raw), "creating session options");
  OrtPtr<OrtSessionOptions> so(raw, OrtDeleter{&api});
  THAW_ORT_TRY(api, api.SetIntraOpNumThreads(raw, options.intra_op_threads), "setting intra-op threads");
  THAW_ORT_TRY(api, api.SetInterOpNumThreads(raw, options.inter_op_threads), "setting inter-op threads");
  THAW_ORT_TRY(api, api.SetSessionExecutionMode(raw, ORT_SEQUENTIAL), "setting execution mode");
  THAW_ORT_TRY(api, api.SetSessionGraphOptimizationLevel(raw, ort_level(options.optimization)),
               "setting the graph optimisation level");
  const char* spin = options.allow_spinning ? "1" : "0";
  THAW_TRY(set_config(api, raw, "session.intra_op.allow_spinning", spin));
  THAW_TRY(set_config(api, raw, "session.inter_op.allow_spinning", spin));
  if (!options.prepack_weights) THAW_TRY(set_config(api, raw, "session.disable_prepacking", "1"));
  if (!options.cpu_arena) THAW_ORT_TRY(api, api.DisableCpuMemArena(raw), "disabling the CPU arena");
  return so;
}

Status attach_weights(const OrtApi& api, OrtSessionOptions* so, WeightSource source,
                      std::string_view graph_bytes, std::span<const std::byte> data_section,
                      std::vector<OrtPtr<OrtValue>>& keep_alive) {
  if (data_section.empty()) return Status::ok();  // a graph with inline weights only
  // ORT takes non-const pointers but only reads initializer memory.
  auto* base = const_cast<std::byte*>(data_section.data());
  if (source == WeightSource::kFilesInMemory) {
    const std::string name(kDataFileName);
    const char* names[] = {name.c_str()};
    char* buffers[] = {reinterpret_cast<char*>(base)};
    const size_t lengths[] = {data_section.size()};
    return from_ort(api, api.AddExternalInitializersFromFilesInMemory(so, names, buffers, lengths, 1),
                    "attaching the data section");
  }
  THAW_ASSIGN_OR_RETURN(std::vector<ExternalInitializer> refs, list_external_initializers(graph_bytes));
  OrtMemoryInfo* mem_raw = nullptr;
  THAW_ORT_TRY(api, api.CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &mem_raw),
               "creating CPU memory info");
  OrtPtr<OrtMemoryInfo> mem(mem_raw, OrtDeleter{&api});
  std::vector<const char*> names;
  std::vector<const OrtValue*> values;
  const size_t first = keep_alive.size();
  for (const ExternalInitializer& ref : refs) {
    if (ref.location != kDataFileName) {
      return make_error(Code::kInvalidArgument, "initializer '{}' refers to '{}', not '{}'", ref.name,
                        ref.location, kDataFileName);
    }
    if (ref.offset > data_section.size() || ref.length > data_section.size() - ref.offset) {
      return make_error(Code::kInvalidArgument,
                        "initializer '{}' [{}, +{}) lies outside the {}-byte data section", ref.name,
                        ref.offset, ref.length, data_section.size());
    }
    uint64_t elements = 1;
    for (int64_t d : ref.shape) {
      if (d < 0) return make_error(Code::kInvalidArgument, "initializer '{}' has a negative dim", ref.name);
      elements *= static_cast<uint64_t>(d);
    }
    if (elements * dtype_size(ref.dtype) != ref.length) {
      return make_error(Code::kInvalidArgument, "initializer '{}': length {} does not match its shape",
                        ref.name, ref.length);
    }
    OrtValue* value = nullptr;
    THAW_ORT_TRY(api,
                 api.CreateTensorWithDataAsOrtValue(
                     mem.get(), base + ref.offset, ref.length, ref.shape.data(), ref.shape.size(),
                     static_cast<ONNXTensorElementDataType>(onnx_from_dtype(ref.dtype)), &value),
                 "wrapping initializer '" + ref.name + "'");
    keep_alive.emplace_back(value, OrtDeleter{&api});
  }
  for (size_t i = 0; i < refs.size(); ++i) {
    names.push_back(refs[i].name.c_str());
    values.push_back(keep_alive[first + i].get());
  }
  return from_ort(api, api.AddExternalInitializers(so, names.data(), values.data(), names.size()),
                  "adding initializers");
}

}  // namespace thaw::engine
