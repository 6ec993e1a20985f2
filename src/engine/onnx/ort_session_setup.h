// Internal: RAII owners for ORT C API objects and the session-options recipe shared by the
// backend and the pack-time optimiser.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include <onnxruntime_c_api.h>

#include "common/status.h"
#include "engine/onnx/onnx_backend.h"

namespace thaw::engine {

struct OrtDeleter {
  const OrtApi* api = nullptr;
  void operator()(OrtSession* p) const { api->ReleaseSession(p); }
  void operator()(OrtSessionOptions* p) const { api->ReleaseSessionOptions(p); }
  void operator()(OrtValue* p) const { api->ReleaseValue(p); }
  void operator()(OrtMemoryInfo* p) const { api->ReleaseMemoryInfo(p); }
  void operator()(OrtTypeInfo* p) const { api->ReleaseTypeInfo(p); }
  void operator()(OrtTensorTypeAndShapeInfo* p) const { api->ReleaseTensorTypeAndShapeInfo(p); }
  void operator()(OrtRunOptions* p) const { api->ReleaseRunOptions(p); }
};
template <typename T>
using OrtPtr = std::unique_ptr<T, OrtDeleter>;

// Threads, spinning, arena, pre-packing and optimisation level from `options`.
Result<OrtPtr<OrtSessionOptions>> make_session_options(const OrtApi& api, const OnnxOptions& options);

// Makes the graph's external initializers (location kDataFileName) resolve into `data_section`
// without copying. For WeightSource::kInitializerValues the OrtValues created are appended to
// `keep_alive`, which must outlive the session.
Status attach_weights(const OrtApi& api, OrtSessionOptions* session_options, WeightSource source,
                      std::string_view graph_bytes, std::span<const std::byte> data_section,
                      std::vector<OrtPtr<OrtValue>>& keep_alive);

}  // namespace thaw::engine
