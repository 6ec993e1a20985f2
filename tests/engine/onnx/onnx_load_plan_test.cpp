// The ONNX plugin's load plan, from manifests alone: graph.ort in place when the bundle has it
// uncompressed, else the whole data section.
#include "engine/onnx/onnx_load_plan.h"

#include <gtest/gtest.h>

#include "engine/onnx/bundle_files.h"

namespace thaw::engine {
namespace {

bundle::Manifest manifest(bool with_ort, bundle::Compression compression) {
  bundle::Manifest m;
  m.backend = "onnx";
  m.compression = compression;
  m.data_length = 300u << 20;
  m.files.push_back({std::string(kOnnxGraphFile), 0, 4096, 0});
  if (with_ort) m.files.push_back({std::string(kOrtModelFile), 200u << 20, 90u << 20, 0});
  m.files.push_back({"tokenizer.json", 8192, 700, 0});
  return m;
}

TEST(OnnxLoadPlan, AnUncompressedGraphOrtIsTheOnlyFileFaultedIn) {
  const LoadPlan plan = onnx_load_plan(manifest(true, bundle::Compression::kNone));
  EXPECT_EQ(plan.fault_in, std::vector<std::string>{"graph.ort"});
  EXPECT_EQ(plan.start_bytes, (90u << 20) + kOnnxRuntimeBytes);
  EXPECT_TRUE(plan.zygote_safe);
}

TEST(OnnxLoadPlan, WithoutAnInPlaceGraphOrtTheWholeDataSectionLoads) {
  for (auto [with_ort, compression] :
       {std::pair{false, bundle::Compression::kNone}, std::pair{true, bundle::Compression::kZstd},
        std::pair{false, bundle::Compression::kZstd}}) {
    const bundle::Manifest m = manifest(with_ort, compression);
    EXPECT_EQ(engine::in_place_ort_graph(m), nullptr);
    const LoadPlan plan = onnx_load_plan(m);
    EXPECT_TRUE(plan.fault_in.empty());
    EXPECT_EQ(plan.start_bytes, (300u << 20) + kOnnxRuntimeBytes);
    EXPECT_TRUE(plan.zygote_safe);
  }
}

}  // namespace
}  // namespace thaw::engine
