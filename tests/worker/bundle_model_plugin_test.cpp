// load_bundle_model asks the registry and names no backend: a bundle of a test plugin's backend
// loads with that plugin's options, load plan and protocol identity; unknown backends, bad
// options, routes this worker does not serve and unsafe zygotes are refused with clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "bundle/bundle.h"
#include "engine/builtin_registry.h"
#include "test_backends.h"
#include "worker/bundle_model.h"

namespace thaw::worker {
namespace {

// What the plugin saw when the worker created its backend.
struct Seen {
  std::string scale;
  loader::Mode mode = loader::Mode::kAuto;
  bool weights_file = false;
};

// A real plugin over RowSumBackend, configurable in what it declares.
class RowSumPlugin final : public engine::Plugin {
 public:
  RowSumPlugin(engine::LoadPlan plan, engine::ProtocolIdentity identity, std::shared_ptr<Seen> seen)
      : plan_(std::move(plan)), identity_(std::move(identity)), seen_(std::move(seen)) {}
  std::string_view name() const override { return "rowsum"; }
  const engine::ProtocolIdentity& protocol() const override { return identity_; }
  std::string_view packs() const override { return ""; }
  bool claims(const std::string&) const override { return false; }
  std::span<const engine::OptionSpec> pack_options() const override { return {}; }
  Result<std::unique_ptr<bundle::PackedModel>> pack(const std::string&,
                                                    const engine::BackendOptions&) const override {
    return make_error(Code::kUnsupported, "rowsum packs nothing");
  }
  engine::LoadPlan load_plan(const bundle::Manifest&) const override { return plan_; }
  std::span<const engine::OptionSpec> create_options() const override { return options_; }
  Result<std::unique_ptr<engine::Backend>> create(const loader::LoadedBundle& bundle,
                                                  const engine::BackendOptions& options) const override {
    seen_->scale = std::string(options.value("scale"));
    seen_->mode = bundle.mode();
    seen_->weights_file = bundle.file("weights.bin").is_ok();
    return std::unique_ptr<engine::Backend>(new testing::RowSumBackend());
  }

 private:
  engine::LoadPlan plan_;
  engine::ProtocolIdentity identity_;
  std::shared_ptr<Seen> seen_;
  std::vector<engine::OptionSpec> options_ = {{.key = "scale",
                                               .help = "a test knob",
                                               .default_value = "1",
                                               .range = std::pair<int64_t, int64_t>{1, 10}}};
};

engine::ProtocolIdentity rowsum_identity() {
  return {"rowsum_platform", {engine::RouteFamily::kOpenInference}};
}

// `stem` names the file; tests that change the file (ctest runs tests in parallel) pass their own.
std::string write_bundle(const std::string& backend,
                         bundle::Compression compression = bundle::Compression::kNone, const std::string& stem = "") {
  static const float weights[4] = {1, 2, 3, 4};
  static const float x[3] = {1, 2, 3};
  bundle::BundleContents c;
  c.name = "sum";
  c.backend = backend;
  c.tensors.push_back({"w", DType::kF32, {4}, std::as_bytes(std::span(weights))});
  c.files.push_back({"weights.bin", std::string(8192, 'w')});
  c.files.push_back({"warmup/0/x", std::string(reinterpret_cast<const char*>(x), sizeof(x))});
  c.warmup.push_back({{{"x", DType::kF32, {1, 3}, "warmup/0/x"}}});
  const std::string path = ::testing::TempDir() + "/" + (stem.empty() ? backend : stem) +
                           (compression == bundle::Compression::kZstd ? "-zstd" : "") + ".thaw";
  bundle::WriteOptions o;
  o.threads = 1;
  o.compression = compression;
  Status s = bundle::write(path, c, o);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return path;
}

class BundleModelPlugin : public ::testing::Test {
 protected:
  void use_plugin(engine::LoadPlan plan = {}, engine::ProtocolIdentity identity = rowsum_identity()) {
    backends_ = engine::Registry();
    backends_.add(std::make_unique<RowSumPlugin>(std::move(plan), std::move(identity), seen_));
  }
  Result<LoadedModel> load(const std::string& path, BundleModelOptions options = {}) {
    return load_bundle_model(backends_, path, options, timeline_);
  }
  static void expect_error(const Result<LoadedModel>& r, Code code, std::string_view part) {
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), code) << r.status().to_string();
    EXPECT_NE(r.status().message().find(part), std::string::npos)
        << "want '" << part << "' in " << r.status().to_string();
  }

  SteadyClock clock_;
  ColdStartTimeline timeline_{clock_, ExecTime{}};
  std::shared_ptr<Seen> seen_ = std::make_shared<Seen>();
  engine::Registry backends_;
};

TEST_F(BundleModelPlugin, LoadsThroughThePluginWithItsOptionsAndIdentity) {
  use_plugin();
  auto model = load(write_bundle("rowsum"), {.backend_options = {"scale=3"}});
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  EXPECT_EQ(model->platform, "rowsum_platform");
  EXPECT_EQ(model->name, "sum");
  ASSERT_EQ(model->warmup.size(), 1u);
  EXPECT_EQ(model->warmup[0][0].name, "x");
  EXPECT_EQ(seen_->scale, "3");
  EXPECT_TRUE(seen_->weights_file);
  EXPECT_TRUE(timeline_.has("bundle_open"));
  EXPECT_TRUE(timeline_.has("session_create"));

  ASSERT_TRUE(load(write_bundle("rowsum")).is_ok());
  EXPECT_EQ(seen_->scale, "1") << "the spec's default applies when the option is not given";
}

// Flips one byte of the file "weights.bin" inside the bundle: the header and manifest stay valid.
std::string flip_weights_file(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find(std::string(8192, 'w'));
  EXPECT_NE(at, std::string::npos);
  f.seekp(static_cast<std::streamoff>(at + 100));
  f.put('x');
  return path;
}

TEST_F(BundleModelPlugin, ACorruptDataSectionIsRefusedBeforeTheModelAnswers) {
  use_plugin();
  const std::string path = flip_weights_file(write_bundle("rowsum", bundle::Compression::kNone, "corrupt"));
  ASSERT_TRUE(load(path, {.verify = VerifyMode::kNever}).is_ok()) << "only the check sees it";
  auto r = load(path, {.verify = VerifyMode::kAlways});
  expect_error(r, Code::kCorrupt, "failed the check");
  expect_error(r, Code::kCorrupt, "weights.bin");
  expect_error(r, Code::kCorrupt, path);
}

TEST_F(BundleModelPlugin, TheFirstStartChecksAndIsRememberedUntilTheFileChanges) {
  use_plugin();
  const std::string path = write_bundle("rowsum", bundle::Compression::kNone, "first-start");
  const std::string cache = ::testing::TempDir() + "/verified-plugin-test";
  std::filesystem::remove_all(cache);
  BundleModelOptions o{.verify = VerifyMode::kFirstStart, .verify_cache_dir = cache};
  ASSERT_TRUE(load(path, o).is_ok());
  EXPECT_TRUE(timeline_.has("verify"));
  EXPECT_FALSE(std::filesystem::is_empty(cache));
  // A later start finds the file in the cache: no check (a fresh timeline shows no "verify").
  ColdStartTimeline later{clock_, ExecTime{}};
  ASSERT_TRUE(load_bundle_model(backends_, path, o, later).is_ok());
  EXPECT_FALSE(later.has("verify"));
  // A rewritten file is a new one: corrupt now, and refused.
  flip_weights_file(path);
  // The clock the kernel stamps files with may be coarser than this test: make the change visible.
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) + std::chrono::seconds(2));
  ColdStartTimeline after{clock_, ExecTime{}};
  auto r = load_bundle_model(backends_, path, o, after);
  expect_error(r, Code::kCorrupt, "failed the check");
}

TEST_F(BundleModelPlugin, UnknownBackendIsRefusedNamingItAndTheKnownOnes) {
  use_plugin();
  expect_error(load(write_bundle("nosuch")), Code::kNotFound, "no backend 'nosuch'");
  expect_error(load(write_bundle("nosuch")), Code::kNotFound, "known backends: rowsum");
}

TEST_F(BundleModelPlugin, BadBackendOptionsNameTheValidKeys) {
  use_plugin();
  const std::string path = write_bundle("rowsum");
  expect_error(load(path, {.backend_options = {"colour=red"}}), Code::kInvalidArgument,
               "backend 'rowsum' has no option 'colour'; valid keys: scale");
  expect_error(load(path, {.backend_options = {"scale=11"}}), Code::kInvalidArgument,
               "an integer in [1, 10]");
  expect_error(load(path, {.backend_options = {"scale"}}), Code::kInvalidArgument, "not key=value");
}

TEST_F(BundleModelPlugin, TheOnnxPluginChecksItsOptionsBeforeLoading) {
  backends_ = engine::make_builtin_registry();
  const std::string path = write_bundle("onnx");
  expect_error(load(path, {.backend_options = {"graph_optimization=fast"}}), Code::kInvalidArgument,
               "one of none, basic, extended, all");
  expect_error(load(path, {.backend_options = {"threads=2"}}), Code::kInvalidArgument,
               "valid keys: graph_optimization");
}

TEST_F(BundleModelPlugin, RoutesThisWorkerDoesNotServeAreRefused) {
  use_plugin({}, {"embedder", {engine::RouteFamily::kOpenAIEmbeddings}});
  expect_error(load(write_bundle("rowsum")), Code::kUnsupported, "openai_embeddings routes");
}

TEST_F(BundleModelPlugin, AZygoteIsRefusedWhenThePlanSaysForkingIsUnsafe) {
  use_plugin({.zygote_safe = false});
  const std::string path = write_bundle("rowsum");
  expect_error(load(path, {.zygote = true}), Code::kUnsupported, "cannot run as a zygote");
  EXPECT_TRUE(load(path).is_ok());
}

TEST_F(BundleModelPlugin, LazyFilesOfAPlanApplyOnlyToUncompressedBundles) {
  use_plugin({.fault_in = {"weights.bin"}});
  ASSERT_TRUE(load(write_bundle("rowsum")).is_ok());
  EXPECT_EQ(seen_->mode, loader::Mode::kMmap);
  ASSERT_TRUE(load(write_bundle("rowsum", bundle::Compression::kZstd)).is_ok());
  EXPECT_EQ(seen_->mode, loader::Mode::kZstd);
  EXPECT_TRUE(seen_->weights_file);
}

}  // namespace
}  // namespace thaw::worker
