// The python plugin: what `thaw pack --python` stores, its load plan and options, and how a bundle's
// files are unpacked for the Python worker (content-keyed, checked, never outside the folder).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../../bundle/pack_test_files.h"
#include "bundle/bundle.h"
#include "engine/builtin_registry.h"
#include "engine/python/handler_files.h"
#include "engine/python/pack_python.h"

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;
using thaw::testing::TempDir;
using thaw::testing::write_file;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Packs `handler` (with `extra` files added as `thaw pack --extra` would) into `out`.
bundle::Reader pack_to(const std::string& handler, const std::string& requirements,
                       const std::vector<std::string>& extra, const std::string& out) {
  auto model = pack_python(handler, {.requirements = requirements});
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  for (const auto& e : extra) EXPECT_TRUE(bundle::add_extra_file(e, model->get()).is_ok());
  EXPECT_TRUE(bundle::write(out, (*model)->contents, {}).is_ok());
  auto r = bundle::Reader::open(out);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(*r);
}

TEST(PackPython, StoresTheModuleRequirementsAndMetadata) {
  TempDir dir;
  fs::create_directories(dir.file("minilm"));
  write_file(dir.file("minilm/handler.py"), "def predict(x):\n    return x\n");
  write_file(dir.file("req.txt"), "numpy\n");
  auto model = pack_python(dir.file("minilm/handler.py"), {.requirements = dir.file("req.txt")});
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  const auto& c = (*model)->contents;
  EXPECT_EQ(c.backend, "python");
  EXPECT_EQ(c.name, "minilm") << "a handler.py is named for its folder";
  ASSERT_EQ(c.files.size(), 2u);
  EXPECT_EQ(c.files[0].name, "handler.py");
  EXPECT_EQ(c.files[1].name, "requirements.txt");
  EXPECT_EQ(c.files[1].data, "numpy\n");
  EXPECT_EQ(c.metadata["python"]["module"], "handler");
  EXPECT_EQ(c.metadata["python"]["requirements"], "requirements.txt");
}

TEST(PackPython, RefusesWhatCannotBeImported) {
  TempDir dir;
  write_file(dir.file("my-handler.py"), "x = 1\n");
  write_file(dir.file("empty.py"), "");
  write_file(dir.file("ok.py"), "x = 1\n");
  EXPECT_EQ(pack_python(dir.file("my-handler.py"), {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pack_python(dir.file("empty.py"), {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pack_python(dir.file("missing.py"), {}).status().code(), Code::kNotFound);
  EXPECT_EQ(pack_python(dir.file("ok.py"), {.requirements = dir.file("nope.txt")}).status().code(),
            Code::kNotFound);
  auto ok = pack_python(dir.file("ok.py"), {});
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ((*ok)->contents.name, "ok");
}

TEST(PythonPlugin, ClaimsHandlersAndIsZygoteSafe) {
  const Registry r = make_builtin_registry();
  auto py = r.find("python");
  ASSERT_TRUE(py.is_ok());
  EXPECT_EQ(r.claim("/srv/handler.py"), *py);
  EXPECT_EQ((*py)->protocol().platform, "python");
  bundle::Manifest m;
  m.backend = "python";
  m.data_length = 1 << 20;
  const LoadPlan plan = (*py)->load_plan(m);
  EXPECT_TRUE(plan.zygote_safe);
  EXPECT_GT(plan.start_bytes, m.data_length);
  std::vector<std::string> good = {"predict_timeout_ms=500", "memory_limit_mb=256", "threads=2"};
  EXPECT_TRUE(BackendOptions::parse(good, (*py)->create_options(), "backend 'python'").is_ok());
  std::vector<std::string> bad = {"threads=0"};
  EXPECT_FALSE(BackendOptions::parse(bad, (*py)->create_options(), "backend 'python'").is_ok());
}

TEST(UnpackHandler, WritesEveryFileOnceUnderAContentKey) {
  TempDir dir;
  write_file(dir.file("h.py"), "def predict(x):\n    return x\n");
  fs::create_directories(dir.file("model/sub"));
  write_file(dir.file("model/config.json"), "{}");
  write_file(dir.file("model/sub/w.bin"), std::string(5000, 'w'));
  auto reader = pack_to(dir.file("h.py"), "", {dir.file("model")}, dir.file("h.thaw"));
  const std::string cache = dir.file("cache");
  auto first = unpack_handler(reader, cache);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_EQ(read(fs::path(*first) / "h.py"), "def predict(x):\n    return x\n");
  EXPECT_EQ(read(fs::path(*first) / "model/sub/w.bin"), std::string(5000, 'w'));
  const std::string manifest = read(fs::path(*first) / std::string(kHandlerManifestFile));
  EXPECT_NE(manifest.find("\"module\":\"h\""), std::string::npos) << manifest;
  // Unchanged: the same folder, not written again.
  fs::remove(fs::path(*first) / "model/config.json");
  auto again = unpack_handler(reader, cache);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(*again, *first);
  EXPECT_FALSE(fs::exists(fs::path(*again) / "model/config.json")) << "an unpacked folder is reused as it is";
  // Changed code: another folder.
  write_file(dir.file("h.py"), "def predict(x):\n    return {}\n");
  auto changed = pack_to(dir.file("h.py"), "", {}, dir.file("h2.thaw"));
  auto other = unpack_handler(changed, cache);
  ASSERT_TRUE(other.is_ok());
  EXPECT_NE(*other, *first);
}

TEST(UnpackHandler, RefusesNamesThatLeaveTheFolder) {
  TempDir dir;
  for (const std::string bad : {"../evil.py", "/etc/evil", "a/../../b", "a//b", ".thaw-manifest.json"}) {
    bundle::BundleContents c;
    c.backend = "python";
    c.files.push_back({bad, "x"});
    ASSERT_TRUE(bundle::write(dir.file("bad.thaw"), c, {}).is_ok());
    auto reader = bundle::Reader::open(dir.file("bad.thaw"));
    ASSERT_TRUE(reader.is_ok());
    auto out = unpack_handler(*reader, dir.file("cache"));
    EXPECT_EQ(out.status().code(), Code::kCorrupt) << bad;
  }
  EXPECT_FALSE(fs::exists(dir.file("evil.py")));
  for (const auto& e : fs::directory_iterator(dir.file("cache")))
    ADD_FAILURE() << "left behind: " << e.path();
}

}  // namespace
}  // namespace thaw::engine
