// The llm plugin end to end on the synthetic test model: pack a GGUF, write the bundle, load it as
// the load plan says, create the backend and generate.
#include "engine/llm/llm_plugin.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

#include "engine/builtin_registry.h"
#include "engine/generator.h"
#include "loader/loader.h"

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;
const fs::path kGguf = fs::path(THAW_SOURCE_DIR) / "models/src/llm-tiny/model-q8_0.gguf";

class LlmPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kGguf)) GTEST_SKIP() << "run scripts/setup.sh to make " << kGguf;
    registry_ = make_builtin_registry();
    plugin_ = registry_.claim(kGguf.string());
    ASSERT_NE(plugin_, nullptr);
    ASSERT_EQ(plugin_->name(), kLlmBackendName);
    dir_ = fs::temp_directory_path() / ("llm_plugin_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string pack(bundle::Compression compression) {
    auto opts =
        BackendOptions::parse(std::vector<std::string>{"max_tokens=7"}, plugin_->pack_options(), "test");
    EXPECT_TRUE(opts.is_ok());
    auto packed = plugin_->pack(kGguf.string(), *opts);
    EXPECT_TRUE(packed.is_ok()) << packed.status().to_string();
    const std::string out = (dir_ / "m.thaw").string();
    bundle::WriteOptions wo;
    wo.compression = compression;
    EXPECT_TRUE(bundle::write(out, (*packed)->contents, wo).is_ok());
    return out;
  }

  std::unique_ptr<Backend> create(const loader::LoadedBundle& b,
                                  std::vector<std::string> items = {"threads=1"}) {
    auto opts = BackendOptions::parse(items, plugin_->create_options(), "test");
    EXPECT_TRUE(opts.is_ok());
    auto backend = plugin_->create(b, *opts);
    EXPECT_TRUE(backend.is_ok()) << backend.status().to_string();
    return backend.is_ok() ? std::move(backend).value() : nullptr;
  }

  Registry registry_;
  const Plugin* plugin_ = nullptr;
  fs::path dir_;
};

// Runs one generation to its end and returns (text, finish reason, completion tokens).
struct Outcome {
  std::string text, reason;
  uint32_t tokens = 0, cached = 0;
};
Outcome generate(Generator& g, GenerateRequest r) {
  std::mutex mu;
  std::condition_variable cv;
  Outcome out;
  bool done = false;
  auto gen = g.submit(std::move(r), [&](GenerationEvent e) {
    std::lock_guard lock(mu);
    out.text += e.text;
    if (e.done) {
      out.reason = e.finish_reason;
      out.tokens = e.completion_tokens;
      out.cached = e.cached_tokens;
      done = true;
      cv.notify_all();
    }
  });
  EXPECT_TRUE(gen.is_ok()) << gen.status().to_string();
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
  return out;
}

TEST_F(LlmPluginTest, PacksTheGgufWholeAndPageAlignedWithItsManifest) {
  auto reader = bundle::Reader::open(pack(bundle::Compression::kNone));
  ASSERT_TRUE(reader.is_ok());
  const bundle::Manifest& m = reader->manifest();
  EXPECT_EQ(m.backend, "llm");
  const bundle::FileEntry* f = m.find_file(kGgufFile);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->length, fs::file_size(kGguf));
  EXPECT_EQ((m.data_offset + f->offset) % 4096, 0u);
  const auto& llm = m.metadata["llm"];
  EXPECT_EQ(llm["architecture"], "qwen2");
  EXPECT_NE(llm["chat_template"].get<std::string>().find("im_start"), std::string::npos);
  EXPECT_EQ(llm["tokenizer"]["pre"], "qwen2");
  EXPECT_EQ(llm["generation"]["max_tokens"], 7);
  EXPECT_FALSE(llm["warmup"]["prompts"].empty());
  LoadPlan plan = plugin_->load_plan(m);
  EXPECT_TRUE(plan.fault_in.empty());
  EXPECT_TRUE(plan.runtime_maps_file);
  EXPECT_TRUE(plan.zygote_safe);
}

TEST_F(LlmPluginTest, PacksFromTheMappedGgufWithoutACopy) {
  auto opts = BackendOptions::parse(std::vector<std::string>{}, plugin_->pack_options(), "test");
  ASSERT_TRUE(opts.is_ok());
  auto packed = plugin_->pack(kGguf.string(), *opts);
  ASSERT_TRUE(packed.is_ok()) << packed.status().to_string();
  const bundle::BundleContents& c = (*packed)->contents;
  ASSERT_EQ(c.files.size(), 1u);
  // The file's bytes are the input's mapping, not a copy of it (a 7 B F16 GGUF is 14 GiB).
  ASSERT_EQ((*packed)->mappings.size(), 1u);
  EXPECT_TRUE(c.files[0].data.empty());
  EXPECT_EQ(c.files[0].bytes().data(), (*packed)->mappings.front().bytes().data());
  EXPECT_EQ(c.files[0].bytes().size(), fs::file_size(kGguf));
  const std::string out = (dir_ / "mapped.thaw").string();
  ASSERT_TRUE(bundle::write(out, c, {}).is_ok());
  auto reader = bundle::Reader::open(out);
  ASSERT_TRUE(reader.is_ok());
  std::ifstream in(kGguf, std::ios::binary);
  const std::string gguf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(*reader->read_file(kGgufFile), gguf);
}

TEST_F(LlmPluginTest, GeneratesInPlaceAndFromACompressedBundleAlike) {
  std::string texts[2];
  int i = 0;
  for (auto c : {bundle::Compression::kNone, bundle::Compression::kZstd}) {
    loader::LoadOptions lo;
    auto loaded = loader::load_file(pack(c), lo);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    auto backend = create(*loaded);
    ASSERT_NE(backend, nullptr);
    Generator* g = backend->generator();
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->info().default_max_tokens, 7u);
    ASSERT_TRUE(g->warm_up().is_ok());
    GenerateRequest r;
    r.prompt = "the model";
    r.max_tokens = 12;
    r.sampling.temperature = 0;
    Outcome o = generate(*g, r);
    EXPECT_EQ(o.reason, "length");
    EXPECT_EQ(o.tokens, 12u);
    texts[i++] = o.text;
  }
  EXPECT_FALSE(texts[0].empty());
  EXPECT_EQ(texts[0], texts[1]);
}

// The prompt cache reuses kept KV (the same slot's, another slot's by copy, the warm-up prompt's)
// and the greedy text stays what a full prefill gives, token for token.
TEST_F(LlmPluginTest, PromptCacheReusesSharedPrefixesWithTheSameGreedyText) {
  loader::LoadOptions lo;
  auto loaded = loader::load_file(pack(bundle::Compression::kNone), lo);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  auto cached = create(*loaded, {"threads=1", "slots=2"});
  auto plain = create(*loaded, {"threads=1", "slots=2", "prompt_cache=0"});
  ASSERT_NE(cached, nullptr);
  ASSERT_NE(plain, nullptr);
  Generator& a = *cached->generator();
  Generator& b = *plain->generator();
  ASSERT_TRUE(a.warm_up().is_ok());  // keeps the warm-up prompt ("Hello")
  ASSERT_TRUE(b.warm_up().is_ok());
  const auto request = [](std::string prompt, uint32_t max_tokens = 10) {
    GenerateRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    return r;
  };
  const std::string shared = "the cold start of a model that answers from a warm template, ";
  // In order: the warm-up's prefix, a new prompt, one sharing its prefix (same slot), the same
  // prompt again (all but its last token), a different one, then the shared one again.
  const std::vector<std::string> prompts = {"Hello, the model", shared + "first", shared + "second",
                                            shared + "second", "zz top", shared + "third"};
  std::vector<uint32_t> reused;
  for (const std::string& p : prompts) {
    Outcome with = generate(a, request(p));
    Outcome without = generate(b, request(p));
    EXPECT_EQ(with.text, without.text) << p;
    EXPECT_EQ(with.tokens, without.tokens) << p;
    EXPECT_EQ(without.cached, 0u) << p;
    reused.push_back(with.cached);
  }
  EXPECT_GT(reused[0], 0u);             // the warm-up prompt's tokens
  EXPECT_EQ(reused[1], 0u);             // nothing kept shares its start
  EXPECT_GT(reused[2], 5u);             // the shared part
  EXPECT_GT(reused[3], reused[2]);      // all but the last token
  EXPECT_GT(reused[5], 5u);             // kept in the other slot while "zz top" ran
  // Another slot's prefix while that slot is busy: copied into the free slot.
  std::mutex mu;
  std::condition_variable cv;
  bool long_done = false;
  std::string long_text;
  auto busy = a.submit(request(shared + "busy", 200), [&](GenerationEvent e) {
    std::lock_guard lock(mu);
    long_text += e.text;
    if (e.done) {
      long_done = true;
      cv.notify_all();
    }
  });
  ASSERT_TRUE(busy.is_ok());
  Outcome copy = generate(a, request(shared + "copied"));
  Outcome full = generate(b, request(shared + "copied"));
  EXPECT_EQ(copy.text, full.text);
  EXPECT_GT(copy.cached, 5u);
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return long_done; }));
  lock.unlock();
  EXPECT_EQ(long_text, generate(b, request(shared + "busy", 200)).text);
}

TEST_F(LlmPluginTest, RefusesWhatDoesNotFitAndTensorRequests) {
  auto loaded = loader::load_file(pack(bundle::Compression::kNone), {});
  ASSERT_TRUE(loaded.is_ok());
  auto backend = create(*loaded, {"threads=1", "context=64", "slots=2"});
  ASSERT_NE(backend, nullptr);
  Generator* g = backend->generator();
  EXPECT_EQ(g->info().context_length, 64u);
  GenerateRequest r;
  r.prompt = "the model";
  r.max_tokens = 64;
  auto refused = g->submit(r, [](GenerationEvent) {});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("context"), std::string::npos);
  r.prompt.clear();
  EXPECT_FALSE(g->submit(r, [](GenerationEvent) {}).is_ok());
  auto infer = backend->infer({}, {});
  EXPECT_EQ(infer.status().code(), Code::kInvalidArgument);
}

TEST_F(LlmPluginTest, ChatTemplateRendersTheBundlesTemplate) {
  auto loaded = loader::load_file(pack(bundle::Compression::kNone), {});
  ASSERT_TRUE(loaded.is_ok());
  auto backend = create(*loaded);
  auto prompt = backend->generator()->apply_chat_template({{"system", "S"}, {"user", "U"}});
  ASSERT_TRUE(prompt.is_ok());
  EXPECT_EQ(*prompt,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
}

TEST_F(LlmPluginTest, RefusesAFileThatIsNotGguf) {
  const std::string bad = (dir_ / "bad.gguf").string();
  { std::ofstream(bad) << "GGUF but not really"; }
  auto opts = BackendOptions::parse({}, plugin_->pack_options(), "test");
  auto packed = plugin_->pack(bad, *opts);
  ASSERT_FALSE(packed.is_ok());
  EXPECT_EQ(packed.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace thaw::engine
