#include "engine/onnx/onnx_load_plan.h"

#include "engine/onnx/bundle_files.h"

namespace thaw::engine {

const bundle::FileEntry* in_place_ort_graph(const bundle::Manifest& manifest) {
  return manifest.compression == bundle::Compression::kNone ? manifest.find_file(kOrtModelFile) : nullptr;
}

LoadPlan onnx_load_plan(const bundle::Manifest& manifest) {
  LoadPlan plan;
  if (const bundle::FileEntry* ort = engine::in_place_ort_graph(manifest)) {
    plan.fault_in.emplace_back(kOrtModelFile);
    plan.start_bytes = ort->length + kOnnxRuntimeBytes;
    plan.reads_only_files = true;  // graph.ort's initializers are its weights; graph.onnx is not read
  } else {
    plan.start_bytes = manifest.data_length + kOnnxRuntimeBytes;
  }
  return plan;
}

}  // namespace thaw::engine
