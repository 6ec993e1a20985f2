#include "cache/chunk_store.h"

#include <unistd.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace thaw::cache {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

class ChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("thaw-chunk-store-{}-{}", ::getpid(),
                                                    ::testing::UnitTest::GetInstance()->random_seed());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(ChunkIdTest, MatchesXxh3_128Hex) {
  // xxh3-128 of the empty input, high 64 bits first.
  EXPECT_EQ(chunk_id_of({}), "99aa06d3014798d86001c324468d497f");
  EXPECT_TRUE(is_chunk_id(chunk_id_of(as_bytes("abc"))));
  EXPECT_FALSE(is_chunk_id("xyz"));
  EXPECT_FALSE(is_chunk_id("99AA06D3014798D86001C324468D497F"));
}

TEST_F(ChunkStoreTest, PutsVerifiesAndReadsBack) {
  auto store = ChunkStore::open(dir_.string());
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  std::string data(100000, 'x');
  data[5] = 'y';
  std::string id = chunk_id_of(as_bytes(data));
  ASSERT_TRUE((*store)->put(id, ChunkEncoding::kRaw, data.size(), as_bytes(data)).is_ok());
  EXPECT_TRUE((*store)->contains(id));
  EXPECT_EQ(*(*store)->size(id), data.size());
  EXPECT_EQ(*(*store)->read(id), data);
  EXPECT_EQ((*store)->total_bytes(), data.size());
  // Idempotent.
  ASSERT_TRUE((*store)->put(id, ChunkEncoding::kRaw, data.size(), as_bytes(data)).is_ok());
  EXPECT_EQ((*store)->count(), 1u);
}

TEST_F(ChunkStoreTest, RejectsWrongBytesAndLeavesNothing) {
  auto store = std::move(ChunkStore::open(dir_.string()).value());
  std::string data = "hello chunk";
  std::string id = chunk_id_of(as_bytes(data));
  std::string wrong = data;
  wrong[0] = 'j';
  Status s = store->put(id, ChunkEncoding::kRaw, wrong.size(), as_bytes(wrong));
  EXPECT_EQ(s.code(), Code::kCorrupt);
  std::string truncated = data.substr(0, 5);
  EXPECT_EQ(store->put(id, ChunkEncoding::kRaw, data.size(), as_bytes(truncated)).code(), Code::kCorrupt);
  EXPECT_FALSE(store->contains(id));
  EXPECT_EQ(store->read(id).status().code(), Code::kNotFound);
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 0u);
  EXPECT_EQ(store->put("not-an-id", ChunkEncoding::kRaw, 1, as_bytes(data)).code(), Code::kInvalidArgument);
}

TEST_F(ChunkStoreTest, ZstdChunksAreCheckedAfterDecoding) {
  auto store = std::move(ChunkStore::open(dir_.string()).value());
  std::string data(50000, 'q');
  std::string id = chunk_id_of(as_bytes(data));
  std::string frame(ZSTD_compressBound(data.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), data.data(), data.size(), 3));
  ASSERT_TRUE(store->put(id, ChunkEncoding::kZstd, data.size(), as_bytes(frame)).is_ok());
  EXPECT_TRUE(store->contains(chunk_key(id, ChunkEncoding::kZstd)));
  EXPECT_FALSE(store->contains(id));
  std::string bad = frame;
  bad[bad.size() / 2] ^= 0x5a;
  std::string other(50000, 'r');
  std::string other_id = chunk_id_of(as_bytes(other));
  EXPECT_FALSE(store->put(other_id, ChunkEncoding::kZstd, data.size(), as_bytes(frame)).is_ok());
  EXPECT_FALSE(store->put(id, ChunkEncoding::kZstd, data.size() + 1, as_bytes(frame)).is_ok());
}

TEST_F(ChunkStoreTest, RecoveryDeletesTempsAndCorruptEntries) {
  std::string good = "good chunk bytes";
  std::string good_id = chunk_id_of(as_bytes(good));
  std::string bad = "bad chunk bytes";
  std::string bad_id = chunk_id_of(as_bytes(bad));
  {
    auto store = std::move(ChunkStore::open(dir_.string()).value());
    ASSERT_TRUE(store->put(good_id, ChunkEncoding::kRaw, good.size(), as_bytes(good)).is_ok());
    ASSERT_TRUE(store->put(bad_id, ChunkEncoding::kRaw, bad.size(), as_bytes(bad)).is_ok());
  }
  // A flipped byte on disk, a half-written temp and a stray file with a bogus name.
  {
    std::fstream f(dir_ / bad_id.substr(0, 2) / bad_id, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('#');
  }
  fs::create_directories(dir_ / "ab");
  std::ofstream(dir_ / good_id.substr(0, 2) / (good_id + ".123-4.tmp")) << "partial";
  std::ofstream(dir_ / "ab" / "not-a-chunk") << "zz";
  auto store = ChunkStore::open(dir_.string());
  ASSERT_TRUE(store.is_ok());
  const RecoveryReport& r = (*store)->recovery();
  EXPECT_EQ(r.temps_removed, 1u);
  EXPECT_EQ(r.corrupt_removed, 2u);
  EXPECT_EQ(r.chunks_kept, 1u);
  EXPECT_TRUE((*store)->contains(good_id));
  EXPECT_FALSE((*store)->contains(bad_id));
  EXPECT_FALSE(fs::exists(dir_ / bad_id.substr(0, 2) / bad_id));
  EXPECT_EQ(*(*store)->read(good_id), good);
}

TEST_F(ChunkStoreTest, RemoveDeletesTheFile) {
  auto store = std::move(ChunkStore::open(dir_.string()).value());
  std::string data = "to be removed";
  std::string id = chunk_id_of(as_bytes(data));
  ASSERT_TRUE(store->put(id, ChunkEncoding::kRaw, data.size(), as_bytes(data)).is_ok());
  ASSERT_TRUE(store->remove(id).is_ok());
  EXPECT_FALSE(store->contains(id));
  EXPECT_EQ(store->total_bytes(), 0u);
  EXPECT_FALSE(fs::exists(dir_ / id.substr(0, 2) / id));
  EXPECT_TRUE(store->remove(id).is_ok());
}

}  // namespace
}  // namespace thaw::cache
