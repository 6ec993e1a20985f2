// The ONNX plugin through the registry, end to end on MiniLM: pack (with and without graph.ort),
// write, load as the load plan says, create, and check the embeddings against the reference.
#include "engine/onnx/onnx_plugin.h"

#include <gtest/gtest.h>

#include "engine/builtin_registry.h"
#include "engine/onnx/bundle_files.h"
#include "minilm_fixture.h"

namespace thaw::engine {
namespace {

const std::string kModel = std::string(THAW_SOURCE_DIR) + "/models/src/minilm/model.onnx";

// Packs MiniLM with `pack_items`, writes it and loads it the way the worker does.
struct PackedBundle {
  std::string path;
  bundle::Manifest manifest;
  loader::LoadedBundle loaded;
};

PackedBundle pack_and_load(const Plugin& plugin, std::vector<std::string> pack_items,
                           const std::string& name) {
  PackedBundle out;
  auto options = BackendOptions::parse(pack_items, plugin.pack_options(), "packing");
  EXPECT_TRUE(options.is_ok()) << options.status().to_string();
  auto packed = plugin.pack(kModel, *options);
  EXPECT_TRUE(packed.is_ok()) << packed.status().to_string();
  out.path = ::testing::TempDir() + "/" + name + ".thaw";
  EXPECT_TRUE(bundle::write(out.path, (*packed)->contents, {.threads = 1}).is_ok());
  auto reader = bundle::Reader::open(out.path);
  EXPECT_TRUE(reader.is_ok());
  out.manifest = reader->manifest();
  const LoadPlan plan = plugin.load_plan(out.manifest);
  loader::LoadOptions lo;
  lo.threads = 1;
  if (!plan.fault_in.empty()) lo.touch = lo.populate = lo.willneed = false;
  auto loaded = loader::load(*reader, lo);
  EXPECT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  out.loaded = std::move(loaded).value();
  return out;
}

void expect_reference(Backend& backend) {
  const auto reference = testing::load_reference();
  for (size_t i = 0; i < reference.size(); ++i) {
    auto request = testing::encode(reference[i]);
    auto out = backend.infer(request.tensors, {});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    EXPECT_GE(testing::cosine((*out)[0].data, reference[i].embedding), 0.9999) << "sentence " << i;
  }
}

class OnnxPlugin : public ::testing::Test {
 protected:
  const Registry registry_ = make_builtin_registry();
  const Plugin& plugin_ = *registry_.find(kOnnxBackendName).value();
};

TEST_F(OnnxPlugin, PacksGraphOrtByDefaultAndRunsItInPlace) {
  PackedBundle b = pack_and_load(plugin_, {}, "with-ort");
  EXPECT_EQ(b.manifest.backend, "onnx");
  ASSERT_NE(b.manifest.find_file(kOrtModelFile), nullptr);
  EXPECT_TRUE(b.manifest.metadata.contains("ort_version"));
  EXPECT_EQ(plugin_.load_plan(b.manifest).fault_in, std::vector<std::string>{std::string(kOrtModelFile)});
  auto options = BackendOptions::parse({}, plugin_.create_options(), "backend 'onnx'");
  auto backend = plugin_.create(b.loaded, *options);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_reference(**backend);
}

TEST_F(OnnxPlugin, WithoutGraphOrtTheGraphReadsItsWeightsFromTheDataSection) {
  PackedBundle b = pack_and_load(plugin_, {"ort_format=false"}, "without-ort");
  EXPECT_EQ(b.manifest.find_file(kOrtModelFile), nullptr);
  EXPECT_FALSE(b.manifest.metadata.contains("ort_version"));
  EXPECT_TRUE(plugin_.load_plan(b.manifest).fault_in.empty());
  std::vector<std::string> items = {"graph_optimization=extended"};
  auto options = BackendOptions::parse(items, plugin_.create_options(), "backend 'onnx'");
  ASSERT_TRUE(options.is_ok());
  auto backend = plugin_.create(b.loaded, *options);
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  expect_reference(**backend);
}

}  // namespace
}  // namespace thaw::engine
