#include "engine/onnx/onnx_runtime.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/onnx/bundle_files.h"
#include "engine/onnx/onnx_optimize.h"
#include "engine/onnx/ort_environment.h"

namespace thaw::engine {
namespace {

// An OnnxBackend together with the environment it runs on, so that the plugin hands out one
// object owning its runtime. The session goes before the environment.
class EnvBoundBackend final : public Backend {
 public:
  EnvBoundBackend(std::unique_ptr<OrtEnvironment> env, std::unique_ptr<Backend> session)
      : env_(std::move(env)), session_(std::move(session)) {}
  const ModelSignature& signature() const override { return session_->signature(); }
  Result<std::vector<OutputTensor>> infer(std::span<const InputTensor> inputs,
                                          std::span<const std::string> outputs) override {
    return session_->infer(inputs, outputs);
  }

 private:
  std::unique_ptr<OrtEnvironment> env_;
  std::unique_ptr<Backend> session_;
};

std::string_view as_chars(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

bool have_onnx_runtime() { return true; }

Result<std::unique_ptr<Backend>> create_onnx_backend(const loader::LoadedBundle& bundle,
                                                     const OnnxOptions& options) {
  THAW_ASSIGN_OR_RETURN(std::unique_ptr<OrtEnvironment> env, OrtEnvironment::create());
  Result<std::unique_ptr<Backend>> session = make_error(Code::kInternal, "no graph");
  if (auto ort = bundle.file(kOrtModelFile); ort.is_ok()) {
    // ORT format: fastest to start, initializers used in place in the loaded bundle.
    session = OnnxBackend::create_from_ort_format(*env, *ort, /*in_place=*/true, options);
  } else {
    auto graph = bundle.file(kOnnxGraphFile);
    if (!graph.is_ok()) return graph.status();
    session = OnnxBackend::create(*env, as_chars(*graph), bundle.data(), options);
  }
  if (!session.is_ok()) return session.status();
  return std::unique_ptr<Backend>(new EnvBoundBackend(std::move(env), std::move(session).value()));
}

Status add_ort_format(bundle::PackedModel& model) {
  bundle::BundleContents& c = model.contents;
  const bundle::WriterFile* graph = nullptr;
  for (const auto& f : c.files)
    if (f.name == kOnnxGraphFile) graph = &f;
  if (graph == nullptr) return make_error(Code::kInvalidArgument, "ONNX bundle has no {}", kOnnxGraphFile);

  // The data section as the graph's external references see it: tensors first, each page-aligned.
  std::vector<uint64_t> offsets = bundle::plan_tensor_offsets(c.tensors);
  uint64_t length = 0;
  for (size_t i = 0; i < c.tensors.size(); ++i)
    length = std::max(length, offsets[i] + c.tensors[i].data.size());
  std::vector<std::byte> data(length);
  for (size_t i = 0; i < c.tensors.size(); ++i)
    if (!c.tensors[i].data.empty())
      std::memcpy(data.data() + offsets[i], c.tensors[i].data.data(), c.tensors[i].data.size());

  THAW_ASSIGN_OR_RETURN(auto env, OrtEnvironment::create());
  THAW_ASSIGN_OR_RETURN(std::string ort, convert_to_ort_format(*env, graph->data, data));
  c.files.push_back({std::string(kOrtModelFile), std::move(ort)});
  c.metadata["ort_version"] = env->version();
  return Status::ok();
}

}  // namespace thaw::engine
