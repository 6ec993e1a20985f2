#include "cli/pack_ort.h"

#include <cstring>
#include <memory>

#if THAW_CLI_HAVE_ENGINE
#include "engine/onnx/onnx_backend.h"
#include "engine/onnx/onnx_optimize.h"
#include "engine/onnx/ort_environment.h"
#endif

namespace thaw::cli {

#if THAW_CLI_HAVE_ENGINE
bool can_add_ort_model() { return true; }

Status add_ort_model(bundle::PackedModel& model) {
  bundle::BundleContents& c = model.contents;
  if (c.backend != "onnx") return Status::ok();
  const bundle::WriterFile* graph = nullptr;
  for (const auto& f : c.files)
    if (f.name == engine::kOnnxGraphFile) graph = &f;
  if (graph == nullptr) return make_error(Code::kInvalidArgument, "ONNX bundle has no {}", engine::kOnnxGraphFile);

  // The data section as the graph's external references see it: tensors first, each page-aligned.
  std::vector<uint64_t> offsets = bundle::plan_tensor_offsets(c.tensors);
  uint64_t length = 0;
  for (size_t i = 0; i < c.tensors.size(); ++i) length = std::max(length, offsets[i] + c.tensors[i].data.size());
  std::vector<std::byte> data(length);
  for (size_t i = 0; i < c.tensors.size(); ++i)
    if (!c.tensors[i].data.empty()) std::memcpy(data.data() + offsets[i], c.tensors[i].data.data(), c.tensors[i].data.size());

  THAW_ASSIGN_OR_RETURN(auto env, engine::OrtEnvironment::create());
  THAW_ASSIGN_OR_RETURN(std::string ort, engine::convert_to_ort_format(*env, graph->data, data));
  c.files.push_back({std::string(engine::kOrtModelFile), std::move(ort)});
  c.metadata["ort_version"] = env->version();
  return Status::ok();
}
#else
bool can_add_ort_model() { return false; }
Status add_ort_model(bundle::PackedModel&) { return Status::ok(); }
#endif

}  // namespace thaw::cli
