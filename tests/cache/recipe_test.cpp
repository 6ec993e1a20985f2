#include "cache/recipe.h"

#include <unistd.h>

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "bundle/bundle.h"

namespace thaw::cache {
namespace {

namespace fs = std::filesystem;

std::string make_bundle(bundle::Compression compression) {
  std::vector<uint8_t> a(300000), b(200000);
  std::mt19937 rng(5);
  for (auto& x : a) x = static_cast<uint8_t>(rng() & 0x0f);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  bundle::BundleContents c;
  c.name = "m";
  c.tensors.push_back({"a", DType::kU8, {300000}, std::as_bytes(std::span(a))});
  c.tensors.push_back({"b", DType::kU8, {200000}, std::as_bytes(std::span(b))});
  c.files.push_back({"config.json", "{}"});
  bundle::WriteOptions o;
  o.compression = compression;
  o.chunk_size = 64 << 10;
  fs::path p = fs::temp_directory_path() / fmt::format("thaw-recipe-{}.thaw", ::getpid());
  EXPECT_TRUE(bundle::write(p.string(), c, o).is_ok());
  auto bytes = read_whole_file(p.string());
  fs::remove(p);
  return *bytes;
}

// Rebuilds the file from the recipe's literal bytes and the chunk bytes cut from the original.
std::string reassemble(const Recipe& r, const std::string& file) {
  std::string out;
  for (const auto& e : r.extents) {
    if (e.chunk < 0) {
      out += r.literal.substr(e.literal_offset, e.length);
    } else {
      const RecipeChunk& c = r.chunks[e.chunk];
      std::string stored = file.substr(c.file_offset, c.stored_length);
      EXPECT_TRUE(verify_chunk(c.id, c.encoding, c.length, std::as_bytes(std::span(stored))).is_ok());
      out += stored;
    }
  }
  return out;
}

class RecipeTest : public ::testing::TestWithParam<bundle::Compression> {};

TEST_P(RecipeTest, RebuildsTheBundleByteForByte) {
  std::string file = make_bundle(GetParam());
  std::vector<LiteralGap> missing;
  auto r = recipe_from_bundle_head("m", "1", std::as_bytes(std::span(file)), file.size(), &missing);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(missing.empty());
  EXPECT_GT(r->chunks.size(), 2u);
  EXPECT_EQ(r->file_size, file.size());
  EXPECT_EQ(reassemble(*r, file), file);
  // Every byte is covered once, in order.
  uint64_t pos = 0;
  for (const auto& e : r->extents) {
    EXPECT_EQ(e.offset, pos);
    pos += e.length;
  }
  EXPECT_EQ(pos, file.size());
  EXPECT_EQ(r->extent_at(0), 0u);
  EXPECT_EQ(r->extent_at(file.size() - 1), r->extents.size() - 1);
}

TEST_P(RecipeTest, ShortHeadAsksForMoreAndLiteralGapsAreListed) {
  std::string file = make_bundle(GetParam());
  auto tiny = recipe_from_bundle_head("m", "1", std::as_bytes(std::span(file)).first(100), file.size(), nullptr);
  EXPECT_EQ(tiny.status().code(), Code::kResourceExhausted);
  auto full = *recipe_from_bundle_head("m", "1", std::as_bytes(std::span(file)), file.size(), nullptr);
  uint64_t header_end = full.chunks.front().file_offset;
  // The head up to the first chunk is enough; nothing is missing.
  std::vector<LiteralGap> missing;
  auto r = recipe_from_bundle_head("m", "1", std::as_bytes(std::span(file)).first(header_end), file.size(), &missing);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(missing.empty());
  EXPECT_EQ(reassemble(*r, file), file);
}

TEST_P(RecipeTest, JsonRoundTripChecksTheLiteralBytes) {
  std::string file = make_bundle(GetParam());
  auto r = *recipe_from_bundle_head("m", "1", std::as_bytes(std::span(file)), file.size(), nullptr);
  auto back = Recipe::from_json(r.to_json(), r.literal);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(reassemble(*back, file), file);
  std::string bad = r.literal;
  bad[10] ^= 1;
  EXPECT_EQ(Recipe::from_json(r.to_json(), bad).status().code(), Code::kCorrupt);
  auto j = r.to_json();
  j["chunks"][0]["file_offset"] = file.size() + 5;
  EXPECT_EQ(Recipe::from_json(j, r.literal).status().code(), Code::kCorrupt);
  EXPECT_EQ(Recipe::from_json(nlohmann::json::object(), "").status().code(), Code::kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Compression, RecipeTest,
                         ::testing::Values(bundle::Compression::kNone, bundle::Compression::kZstd));

TEST(RecipeBadInputTest, GarbageIsCorrupt) {
  std::string junk(8192, 'j');
  auto r = recipe_from_bundle_head("m", "1", std::as_bytes(std::span(junk)), junk.size(), nullptr);
  EXPECT_FALSE(r.is_ok());
  EXPECT_NE(r.status().code(), Code::kResourceExhausted);
}

TEST(SafeNameTest, RejectsPathTricks) {
  EXPECT_TRUE(is_safe_name("minilm-v2.1_a"));
  EXPECT_FALSE(is_safe_name(""));
  EXPECT_FALSE(is_safe_name(".."));
  EXPECT_FALSE(is_safe_name("a/b"));
  EXPECT_FALSE(is_safe_name("a b"));
  EXPECT_FALSE(is_safe_name(std::string(200, 'a')));
}

}  // namespace
}  // namespace thaw::cache
