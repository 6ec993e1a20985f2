// The registry: lookup by manifest.backend, unknown backends, claiming pack inputs, load plans of
// bundles on disk, and the built-in registry's ONNX plugin as the worker and `thaw pack` see it.
#include "engine/registry.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "engine/builtin_registry.h"

namespace thaw::engine {
namespace {

// A plugin that declares what the test asks for and does nothing else.
class StubPlugin final : public Plugin {
 public:
  StubPlugin(std::string name, std::string extension, std::vector<OptionSpec> create_options = {})
      : name_(std::move(name)),
        extension_(std::move(extension)),
        create_options_(std::move(create_options)) {}
  std::string_view name() const override { return name_; }
  const ProtocolIdentity& protocol() const override { return identity_; }
  std::string_view packs() const override { return extension_.empty() ? "" : "stub models"; }
  bool claims(const std::string& input) const override { return input.ends_with(extension_); }
  std::span<const OptionSpec> pack_options() const override { return {}; }
  Result<std::unique_ptr<bundle::PackedModel>> pack(const std::string&,
                                                    const BackendOptions&) const override {
    return make_error(Code::kUnsupported, "stub");
  }
  LoadPlan load_plan(const bundle::Manifest& m) const override { return {.start_bytes = m.data_length + 1}; }
  std::span<const OptionSpec> create_options() const override { return create_options_; }
  Result<std::unique_ptr<Backend>> create(const loader::LoadedBundle&, const BackendOptions&) const override {
    return make_error(Code::kUnsupported, "stub");
  }

 private:
  std::string name_, extension_;
  std::vector<OptionSpec> create_options_;
  ProtocolIdentity identity_{"stub", {RouteFamily::kOpenInference}};
};

std::string write_bundle(const std::string& backend) {
  bundle::BundleContents c;
  c.name = "m";
  c.backend = backend;
  c.files.push_back({"blob", std::string(5000, 'b')});
  const std::string path = ::testing::TempDir() + "/registry-" + backend + ".thaw";
  EXPECT_TRUE(bundle::write(path, c, {.threads = 1}).is_ok());
  return path;
}

TEST(Registry, FindsPluginsByBackendAndNamesTheKnownOnesWhenItCannot) {
  Registry r;
  r.add(std::make_unique<StubPlugin>("a", ".a"));
  r.add(std::make_unique<StubPlugin>("b", ""));
  auto a = r.find("a");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ((*a)->name(), "a");
  auto missing = r.find("llm");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "no backend 'llm' in this build of thaw (known backends: a, b)");
  EXPECT_EQ(Registry().find("a").status().message(),
            "no backend 'a' in this build of thaw (known backends: none)");
}

TEST(Registry, ClaimsSkipPluginsThatPackNothing) {
  Registry r;
  r.add(std::make_unique<StubPlugin>("empty", ""));
  r.add(std::make_unique<StubPlugin>("a", ".a"));
  EXPECT_EQ(r.claim("model.a"), r.find("a").value());
  EXPECT_EQ(r.claim("model.b"), nullptr);
  EXPECT_EQ(r.describe_packers(), "a: stub models");
}

TEST(Registry, RefusesDuplicateNamesAndAliases) {
  Registry r;
  r.add(std::make_unique<StubPlugin>("a", ".a", std::vector<OptionSpec>{{.key = "k", .alias = "--old-k"}}));
  EXPECT_THROW(r.add(std::make_unique<StubPlugin>("a", ".x")), std::invalid_argument);
  EXPECT_THROW(r.add(std::make_unique<StubPlugin>("b", ".b",
                                                  std::vector<OptionSpec>{{.key = "j", .alias = "--old-k"}})),
               std::invalid_argument);
  EXPECT_EQ(r.plugins().size(), 1u);
}

TEST(Registry, LoadPlanOfABundleOnDisk) {
  Registry r;
  r.add(std::make_unique<StubPlugin>("a", ".a"));
  auto plan = r.load_plan(write_bundle("a"));
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  EXPECT_EQ(plan->start_bytes, 8192u + 1) << "the stub's plan: data_length + 1";
  EXPECT_EQ(r.load_plan(write_bundle("zzz")).status().code(), Code::kNotFound);
  EXPECT_EQ(r.load_plan("/nonexistent.thaw").status().code(), Code::kNotFound);
}

TEST(BuiltinRegistry, HasTheLlmPluginForGgufModels) {
  const Registry r = make_builtin_registry();
  auto llm = r.find("llm");
  ASSERT_TRUE(llm.is_ok());
  EXPECT_EQ((*llm)->protocol().platform, "llama_cpp_gguf");
  ASSERT_EQ((*llm)->protocol().routes.size(), 1u);
  EXPECT_EQ(route_family_name((*llm)->protocol().routes[0]), "openai_completions");
  EXPECT_EQ(r.claim("/models/qwen.gguf"), *llm);
  // A Hugging Face model directory: config.json beside safetensors weights; a folder without weights is not.
  const auto dir = std::filesystem::temp_directory_path() / ("registry_test_hf_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << "{}";
  EXPECT_EQ(r.claim(dir.string()), nullptr);
  std::ofstream(dir / "model-00001-of-00002.safetensors") << "x";
  EXPECT_EQ(r.claim(dir.string()), *llm);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(BackendOptions::parse(std::vector<std::string>{"slots=8", "threads=2"}, (*llm)->create_options(), "llm").is_ok());
  EXPECT_FALSE(BackendOptions::parse(std::vector<std::string>{"slots=0"}, (*llm)->create_options(), "llm").is_ok());
}

TEST(BuiltinRegistry, HasTheOnnxPluginWithItsIdentityAndOptions) {
  const Registry r = make_builtin_registry();
  auto onnx = r.find("onnx");
  ASSERT_TRUE(onnx.is_ok());
  EXPECT_EQ((*onnx)->protocol().platform, "onnxruntime_onnx");
  ASSERT_EQ((*onnx)->protocol().routes.size(), 1u);
  EXPECT_EQ(route_family_name((*onnx)->protocol().routes[0]), "open_inference");
  EXPECT_EQ(r.claim("/models/bert.onnx"), *onnx);
  EXPECT_EQ(r.claim("/models/bert.safetensors"), nullptr);
  EXPECT_EQ(r.describe_packers(),
            "onnx: ONNX models (*.onnx); python: Python handlers (*.py: init/predict/warmup); "
            "llm: GGUF language models (*.gguf) and Hugging Face model directories (config.json + safetensors)");

  std::vector<std::string> good = {"graph_optimization=all"}, bad = {"graph_optimization=max"};
  auto create = BackendOptions::parse(good, (*onnx)->create_options(), "backend 'onnx'");
  ASSERT_TRUE(create.is_ok());
  EXPECT_EQ(create->value("graph_optimization"), "all");
  EXPECT_FALSE(BackendOptions::parse(bad, (*onnx)->create_options(), "backend 'onnx'").is_ok());
  auto pack = BackendOptions::parse({}, (*onnx)->pack_options(), "packing");
  ASSERT_TRUE(pack.is_ok());
  EXPECT_EQ(pack->value("ort_format"), "true");
}

}  // namespace
}  // namespace thaw::engine
