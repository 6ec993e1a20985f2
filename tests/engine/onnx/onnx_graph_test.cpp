// list_external_initializers against the bundle-layout MiniLM and against malformed graphs.
#include "engine/onnx/onnx_graph.h"

#include <gtest/gtest.h>

#include <set>

#include "engine/onnx/onnx_backend.h"
#include "minilm_fixture.h"

namespace thaw::engine {
namespace {

TEST(ExternalInitializers, MiniLmWeightsAreAlignedReferencesIntoTheDataFile) {
  const std::string graph = testing::read_file(testing::minilm_dir() + "/graph.onnx");
  testing::MappedFile data(testing::minilm_dir() + "/thaw.data");
  auto refs = list_external_initializers(graph);
  ASSERT_TRUE(refs.is_ok()) << refs.status().to_string();
  ASSERT_GT(refs->size(), 50u);
  uint64_t total = 0;
  std::set<std::string> names;
  for (const ExternalInitializer& r : *refs) {
    EXPECT_EQ(r.location, kDataFileName) << r.name;
    EXPECT_EQ(r.offset % 4096, 0u) << r.name;
    EXPECT_LE(r.offset + r.length, data.bytes().size()) << r.name;
    uint64_t elements = 1;
    for (int64_t d : r.shape) elements *= static_cast<uint64_t>(d);
    EXPECT_EQ(elements * dtype_size(r.dtype), r.length) << r.name;
    EXPECT_TRUE(names.insert(r.name).second) << r.name;
    total += r.length;
  }
  EXPECT_GT(total, 80u << 20);  // MiniLM-L6 carries ~90 MB of f32 weights
}

TEST(ExternalInitializers, GarbageIsInvalidArgument) {
  auto refs = list_external_initializers(std::string(100, '\xff'));
  ASSERT_FALSE(refs.is_ok());
  EXPECT_EQ(refs.status().code(), Code::kInvalidArgument);
}

TEST(ExternalInitializers, EmptyGraphHasNone) {
  auto refs = list_external_initializers("");
  ASSERT_TRUE(refs.is_ok());
  EXPECT_TRUE(refs->empty());
}

}  // namespace
}  // namespace thaw::engine
