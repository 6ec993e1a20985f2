#include "loader/loader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"

namespace thaw::loader {
namespace {

namespace fs = std::filesystem;

struct Tensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<std::byte> bytes;
};

// Float-like values (small exponents) so shuffled zstd chunks really compress.
std::vector<std::byte> float_bytes(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 0.02f);
  std::vector<std::byte> out(count * 4);
  for (size_t i = 0; i < count; ++i) {
    float v = dist(rng);
    std::memcpy(out.data() + i * 4, &v, 4);
  }
  return out;
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw_loader_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    tensors_.push_back({"embeddings", DType::kF32, {300, 64}, float_bytes(300 * 64, 1)});
    tensors_.push_back({"layer.0.weight", DType::kF32, {128, 257}, float_bytes(128 * 257, 2)});
    tensors_.push_back({"layer.0.bias", DType::kF32, {7}, float_bytes(7, 3)});
    tensors_.push_back({"half", DType::kF16, {33, 5}, random_bytes(33 * 5 * 2, 4)});
    tensors_.push_back({"ids", DType::kI64, {3, 11}, random_bytes(3 * 11 * 8, 5)});
    tensors_.push_back({"mask", DType::kU8, {1001}, random_bytes(1001, 6)});
    tensors_.push_back({"big", DType::kF32, {1 << 18}, float_bytes(1 << 18, 7)});
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_bundle(const std::string& name, bundle::Compression compression, bool shuffle,
                           uint64_t chunk_size = 64 << 10) {
    bundle::BundleContents c;
    c.name = "test-model";
    for (const auto& t : tensors_) c.tensors.push_back({t.name, t.dtype, t.shape, t.bytes});
    c.files.push_back({"config.json", R"({"hidden": 64})"});
    c.files.push_back({"tokenizer.json", std::string(5000, 'x')});
    bundle::WriteOptions o;
    o.compression = compression;
    o.byte_shuffle = shuffle;
    o.chunk_size = chunk_size;
    o.threads = 2;
    std::string path = (dir_ / name).string();
    Status s = bundle::write(path, c, o);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return path;
  }

  void expect_same_bytes(const LoadedBundle& lb) {
    for (const auto& t : tensors_) {
      auto got = lb.tensor(t.name);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ(got->size(), t.bytes.size()) << t.name;
      EXPECT_EQ(std::memcmp(got->data(), t.bytes.data(), t.bytes.size()), 0) << t.name;
    }
    auto config = lb.file("config.json");
    ASSERT_TRUE(config.is_ok());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(config->data()), config->size()), R"({"hidden": 64})");
    EXPECT_EQ(lb.data().size(), lb.manifest().data_length);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(lb.data().data()) % 64, 0u);
  }

  static void flip_byte(const std::string& path, uint64_t offset) {
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    unsigned char b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
    b ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }

  fs::path dir_;
  std::vector<Tensor> tensors_;
};

TEST_F(LoaderTest, EveryUncompressedModeLoadsTheWritersBytesWithOneToFourThreads) {
  std::string path = write_bundle("plain.thaw", bundle::Compression::kNone, false);
  for (Mode mode : {Mode::kMmap, Mode::kRead, Mode::kAuto}) {
    for (int variant = 0; variant < 3; ++variant) {  // 0 pread/mmap, 1 io_uring, 2 O_DIRECT
      if (variant > 0 && mode != Mode::kRead) continue;
      const bool uring = variant == 1;
      for (int threads = 1; threads <= 4; ++threads) {
        LoadOptions o;
        o.mode = mode;
        o.threads = threads;
        o.io_uring = uring;
        o.direct = variant == 2;
        o.verify = true;
        o.read_block = 12288;  // many requests even for a small bundle
        auto lb = load_file(path, o);
        if (o.direct && !lb.is_ok() && lb.status().message().find("O_DIRECT") != std::string::npos)
          continue;  // the temp filesystem (tmpfs) has no O_DIRECT
        ASSERT_TRUE(lb.is_ok()) << mode_name(mode) << ": " << lb.status().to_string();
        EXPECT_EQ(lb->mode(), mode == Mode::kAuto ? Mode::kMmap : mode);
        if (!o.direct) EXPECT_EQ(lb->io_uring(), uring);
        EXPECT_EQ(lb->direct(), o.direct);
        SCOPED_TRACE(std::string(mode_name(mode)) + " threads " + std::to_string(threads));
        expect_same_bytes(*lb);
      }
    }
  }
}

TEST_F(LoaderTest, CompressedShuffledBundleRoundTripsWithOneToFourThreads) {
  for (bool shuffle : {true, false}) {
    std::string path = write_bundle(shuffle ? "z-shuffled.thaw" : "z.thaw", bundle::Compression::kZstd, shuffle);
    for (Mode mode : {Mode::kZstd, Mode::kAuto}) {
      for (int threads = 1; threads <= 4; ++threads) {
        LoadOptions o;
        o.mode = mode;
        o.threads = threads;
        o.verify = true;
        auto lb = load_file(path, o);
        ASSERT_TRUE(lb.is_ok()) << lb.status().to_string();
        EXPECT_EQ(lb->mode(), Mode::kZstd);
        EXPECT_GT(lb->manifest().chunks.size(), 4u);
        SCOPED_TRACE("shuffle " + std::to_string(shuffle) + " threads " + std::to_string(threads));
        expect_same_bytes(*lb);
      }
    }
  }
}

TEST_F(LoaderTest, LoadedBundleOutlivesItsReaderAndMoves) {
  std::string path = write_bundle("plain.thaw", bundle::Compression::kNone, false);
  LoadedBundle kept = [&] {
    auto reader = bundle::Reader::open(path);
    EXPECT_TRUE(reader.is_ok());
    auto lb = load(*reader, LoadOptions{});
    EXPECT_TRUE(lb.is_ok());
    return std::move(lb).value();
  }();
  expect_same_bytes(kept);
}

TEST_F(LoaderTest, LazyMappingFaultsInOneFileOnRequest) {
  std::string path = write_bundle("lazy.thaw", bundle::Compression::kNone, false);
  LoadOptions o;
  o.mode = Mode::kMmap;
  o.touch = o.populate = o.willneed = false;
  auto lb = load_file(path, o);
  ASSERT_TRUE(lb.is_ok()) << lb.status().to_string();
  EXPECT_TRUE(lb->fault_in_file("config.json").is_ok());
  EXPECT_EQ(lb->fault_in_file("nope").code(), Code::kNotFound);
  expect_same_bytes(*lb);
}

TEST_F(LoaderTest, PhasesAreReportedInOrder) {
  std::string path = write_bundle("z.thaw", bundle::Compression::kZstd, true);
  ManualClock clock;
  LoadOptions o;
  o.clock = &clock;
  o.verify = true;
  auto lb = load_file(path, o);
  ASSERT_TRUE(lb.is_ok());
  std::vector<std::string> names;
  for (const auto& [name, d] : lb->timings().phases) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"open", "index", "alloc", "decompress", "touch", "verify"}));
  auto j = lb->timings().to_json();
  EXPECT_TRUE(j.contains("decompress_ms"));
  EXPECT_TRUE(j.contains("total_ms"));
  EXPECT_TRUE(j.contains("worker_time_ms"));

  std::string plain = write_bundle("plain.thaw", bundle::Compression::kNone, false);
  o.mode = Mode::kMmap;
  o.populate = true;
  auto m = load_file(plain, o);
  ASSERT_TRUE(m.is_ok());
  names.clear();
  for (const auto& [name, d] : m->timings().phases) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"open", "index", "map", "touch", "verify"}));
}

TEST_F(LoaderTest, ModeThatDoesNotFitTheBundleIsRefused) {
  std::string plain = write_bundle("plain.thaw", bundle::Compression::kNone, false);
  std::string z = write_bundle("z.thaw", bundle::Compression::kZstd, true);
  LoadOptions o;
  o.mode = Mode::kZstd;
  auto a = load_file(plain, o);
  EXPECT_EQ(a.status().code(), Code::kInvalidArgument);
  for (Mode m : {Mode::kRead, Mode::kMmap}) {
    o.mode = m;
    auto b = load_file(z, o);
    EXPECT_EQ(b.status().code(), Code::kInvalidArgument) << mode_name(m);
    EXPECT_NE(b.status().message().find("compressed"), std::string::npos);
  }
  o.mode = Mode::kRead;
  o.threads = 0;
  EXPECT_EQ(load_file(plain, o).status().code(), Code::kInvalidArgument);
}

TEST_F(LoaderTest, MissingNamesAndFilesAreNotFound) {
  std::string path = write_bundle("plain.thaw", bundle::Compression::kNone, false);
  auto lb = load_file(path, LoadOptions{});
  ASSERT_TRUE(lb.is_ok());
  EXPECT_EQ(lb->tensor("nope").status().code(), Code::kNotFound);
  EXPECT_EQ(lb->file("nope").status().code(), Code::kNotFound);
  auto missing = load_file((dir_ / "missing.thaw").string(), LoadOptions{});
  EXPECT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().to_string();
}

TEST_F(LoaderTest, TruncatedBundlesFailWithAClearErrorInEveryMode) {
  for (auto compression : {bundle::Compression::kNone, bundle::Compression::kZstd}) {
    std::string path = write_bundle("t.thaw", compression, true);
    const auto size = fs::file_size(path);
    for (uint64_t keep : {size - 1, size / 2, uint64_t{100}, uint64_t{0}}) {
      std::string cut = (dir_ / "cut.thaw").string();
      fs::copy_file(path, cut, fs::copy_options::overwrite_existing);
      fs::resize_file(cut, keep);
      for (Mode mode : {Mode::kAuto, Mode::kRead, Mode::kMmap, Mode::kZstd}) {
        LoadOptions o;
        o.mode = mode;
        auto lb = load_file(cut, o);
        ASSERT_FALSE(lb.is_ok()) << "kept " << keep << " of " << size;
        EXPECT_FALSE(lb.status().message().empty());
      }
    }
  }
}

TEST_F(LoaderTest, FlippedTensorByteIsCaughtByVerifyAndNamed) {
  std::string path = write_bundle("plain.thaw", bundle::Compression::kNone, false);
  uint64_t offset = 0;
  {
    auto reader = bundle::Reader::open(path);
    ASSERT_TRUE(reader.is_ok());
    const auto* t = reader->manifest().find_tensor("layer.0.weight");
    ASSERT_NE(t, nullptr);
    offset = reader->manifest().data_offset + t->offset + t->length / 2;
  }
  flip_byte(path, offset);
  for (Mode mode : {Mode::kMmap, Mode::kRead}) {
    LoadOptions o;
    o.mode = mode;
    EXPECT_TRUE(load_file(path, o).is_ok()) << "without verify the bytes are not checked";
    o.verify = true;
    auto lb = load_file(path, o);
    ASSERT_FALSE(lb.is_ok());
    EXPECT_EQ(lb.status().code(), Code::kCorrupt);
    EXPECT_NE(lb.status().message().find("layer.0.weight"), std::string::npos) << lb.status().to_string();
  }
}

TEST_F(LoaderTest, CorruptCompressedChunkIsAnError) {
  std::string path = write_bundle("z.thaw", bundle::Compression::kZstd, true);
  bundle::ChunkEntry chunk;
  {
    auto reader = bundle::Reader::open(path);
    ASSERT_TRUE(reader.is_ok());
    ASSERT_GT(reader->manifest().chunks.size(), 2u);
    chunk = reader->manifest().chunks[1];
  }
  // Damage the frame header and, separately, the middle of the payload.
  for (uint64_t at : {chunk.file_offset + 5, chunk.file_offset + chunk.stored_length / 2}) {
    std::string copy = (dir_ / "bad.thaw").string();
    fs::copy_file(path, copy, fs::copy_options::overwrite_existing);
    flip_byte(copy, at);
    for (int threads = 1; threads <= 4; ++threads) {
      LoadOptions o;
      o.threads = threads;
      o.verify = true;
      auto lb = load_file(copy, o);
      ASSERT_FALSE(lb.is_ok()) << "flipped byte at " << at;
      EXPECT_EQ(lb.status().code(), Code::kCorrupt) << lb.status().to_string();
    }
  }
}

}  // namespace
}  // namespace thaw::loader
