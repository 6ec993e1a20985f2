#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "bundle/bundle.h"
#include "bundle/format.h"
#include "bundle/shuffle.h"
#include "test_bundles.h"

namespace thaw::bundle {
namespace {

namespace fs = std::filesystem;
using testing::sample_model;

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("thaw_bundle_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// (compression, shuffle, chunk size)
using Params = std::tuple<Compression, bool, uint64_t>;

class RoundTrip : public ::testing::TestWithParam<Params> {};

TEST_P(RoundTrip, EverythingReadsBackAndVerifies) {
  auto [compression, shuffle, chunk_size] = GetParam();
  TempDir dir;
  auto model = sample_model(2);
  WriteOptions o;
  o.compression = compression;
  o.byte_shuffle = shuffle;
  o.chunk_size = chunk_size;
  o.threads = 3;
  uint64_t written = 0;
  o.progress = [&](uint64_t n) { written += n; };
  const std::string path = dir.file("m.thaw");
  Status ws = write(path, model.contents, o);
  ASSERT_TRUE(ws.is_ok()) << ws.to_string();

  auto r = Reader::open(path);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Manifest& m = r->manifest();
  EXPECT_EQ(m.name, "sample");
  EXPECT_EQ(m.version, "2");
  EXPECT_EQ(m.backend, "onnx");
  EXPECT_EQ(m.compression, compression);
  EXPECT_EQ(m.byte_shuffle, compression == Compression::kZstd && shuffle);
  EXPECT_EQ(m.chunk_size, chunk_size);
  EXPECT_EQ(written, m.data_length);
  EXPECT_EQ(m.data_offset % kAlignment, 0u);
  EXPECT_EQ(m.metadata, model.contents.metadata);
  ASSERT_EQ(m.tensors.size(), model.contents.tensors.size());
  std::vector<uint64_t> planned = plan_tensor_offsets(model.contents.tensors);

  const auto file_bytes = read_all(path);
  EXPECT_EQ(file_bytes.size(), r->file_size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const auto& want = model.contents.tensors[i];
    const TensorEntry& t = m.tensors[i];
    EXPECT_EQ(t.name, want.name);
    EXPECT_EQ(t.dtype, want.dtype);
    EXPECT_EQ(t.shape, want.shape);
    EXPECT_EQ(t.offset, planned[i]);
    EXPECT_EQ(t.offset % kAlignment, 0u) << t.name;
    EXPECT_EQ(m.find_tensor(t.name), &t);
    auto bytes = r->read_tensor(t.name);
    ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    ASSERT_EQ(bytes->size(), want.data.size());
    EXPECT_TRUE(std::equal(bytes->begin(), bytes->end(), want.data.begin())) << t.name;
    if (compression == Compression::kNone && t.length > 0) {
      // Usable in place: the tensor's bytes sit page-aligned in the file itself.
      const uint64_t at = m.data_offset + t.offset;
      EXPECT_EQ(at % 4096, 0u);
      EXPECT_EQ(std::memcmp(file_bytes.data() + at, want.data.data(), want.data.size()), 0) << t.name;
    }
  }
  for (const auto& f : model.contents.files) {
    auto got = r->read_file(f.name);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(*got, f.data);
  }
  ASSERT_EQ(m.warmup.size(), 1u);
  EXPECT_EQ(m.warmup[0].inputs[0].tensor_name, "input_ids");
  EXPECT_EQ(m.warmup[0].inputs[0].shape, (std::vector<int64_t>{2, 4}));

  uint64_t checked = 0;
  Status vs = r->verify([&](uint64_t n) { checked += n; });
  EXPECT_TRUE(vs.is_ok()) << vs.to_string();
  EXPECT_EQ(checked, m.data_length);

  // The same bytes parsed from memory give the same manifest and verify too.
  auto mem = Reader::from_memory(file_bytes);
  ASSERT_TRUE(mem.is_ok()) << mem.status().to_string();
  EXPECT_EQ(mem->fd(), -1);
  EXPECT_EQ(mem->manifest().chunks.size(), m.chunks.size());
  EXPECT_TRUE(mem->verify().is_ok());
  auto big = mem->read_tensor("big");
  ASSERT_TRUE(big.is_ok());
  EXPECT_TRUE(std::equal(big->begin(), big->end(), model.contents.tensors[7].data.begin()));
}

INSTANTIATE_TEST_SUITE_P(Bundle, RoundTrip,
                         ::testing::Values(Params{Compression::kNone, false, 64 << 10},
                                           Params{Compression::kNone, false, 4 << 20},
                                           Params{Compression::kZstd, false, 64 << 10},
                                           Params{Compression::kZstd, true, 64 << 10},
                                           Params{Compression::kZstd, true, 4 << 20}));

TEST(Bundle, ReadDataAnyRangeAcrossChunks) {
  TempDir dir;
  auto model = sample_model(3);
  WriteOptions o;
  o.compression = Compression::kZstd;
  o.chunk_size = 64 << 10;
  ASSERT_TRUE(write(dir.file("z.thaw"), model.contents, o).is_ok());
  o.compression = Compression::kNone;
  ASSERT_TRUE(write(dir.file("n.thaw"), model.contents, o).is_ok());
  auto z = Reader::open(dir.file("z.thaw"));
  auto n = Reader::open(dir.file("n.thaw"));
  ASSERT_TRUE(z.is_ok() && n.is_ok());
  ASSERT_EQ(z->manifest().data_length, n->manifest().data_length);
  const uint64_t len = n->manifest().data_length;
  ASSERT_GT(z->manifest().chunks.size(), 3u);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 50; ++i) {
    uint64_t a = rng() % len;
    uint64_t size = rng() % std::min<uint64_t>(len - a, 300000);
    std::vector<std::byte> x(size), y(size);
    ASSERT_TRUE(z->read_data(a, x).is_ok());
    ASSERT_TRUE(n->read_data(a, y).is_ok());
    EXPECT_EQ(x, y) << "range " << a << " +" << size;
  }
  std::vector<std::byte> past(10);
  Status s = z->read_data(len - 5, past);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
}

TEST(Bundle, VersionsSharingTensorsShareChunks) {
  TempDir dir;
  auto v1 = sample_model(4, 1);
  auto v2 = sample_model(4, 1);
  // v2 retrains one small tensor and the mid-size one, and adds a new tensor in front.
  v2.add_tensor("layer.0.bias", DType::kF32, {7}, testing::float_bytes(7, 99));
  v2.contents.tensors[2] = v2.contents.tensors.back();
  v2.contents.tensors.pop_back();
  v2.add_tensor("layer.0.weight", DType::kF32, {128, 257}, testing::float_bytes(128 * 257, 98));
  v2.contents.tensors[1] = v2.contents.tensors.back();
  v2.contents.tensors.pop_back();
  v2.add_tensor("adapter", DType::kF32, {40000}, testing::float_bytes(40000, 97));
  std::rotate(v2.contents.tensors.begin(), v2.contents.tensors.end() - 1, v2.contents.tensors.end());
  WriteOptions o;
  o.compression = Compression::kZstd;
  o.chunk_size = 64 << 10;
  ASSERT_TRUE(write(dir.file("v1.thaw"), v1.contents, o).is_ok());
  ASSERT_TRUE(write(dir.file("v2.thaw"), v2.contents, o).is_ok());
  auto a = Reader::open(dir.file("v1.thaw"));
  auto b = Reader::open(dir.file("v2.thaw"));
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  std::set<std::string> ids_a;
  uint64_t bytes_a = 0;
  for (const auto& c : a->manifest().chunks) {
    ids_a.insert(c.id);
    bytes_a += c.length;
  }
  uint64_t shared = 0;
  for (const auto& c : b->manifest().chunks)
    if (ids_a.count(c.id)) shared += c.length;
  // "embeddings" and "big" are unchanged and hold most of the bytes; every one of their chunks is
  // shared even though they moved within the data section.
  uint64_t unchanged = 0;
  for (const char* name : {"embeddings", "big"}) unchanged += a->manifest().find_tensor(name)->length;
  EXPECT_GE(shared, unchanged);
  EXPECT_GT(shared * 10, bytes_a * 8);
  EXPECT_NE(a->manifest().find_tensor("big")->offset, b->manifest().find_tensor("big")->offset);
}

TEST(Bundle, ShuffleHelpsFloatsAndIsOptional) {
  TempDir dir;
  auto model = sample_model(8);
  WriteOptions o;
  o.compression = Compression::kZstd;
  o.byte_shuffle = false;
  ASSERT_TRUE(write(dir.file("plain.thaw"), model.contents, o).is_ok());
  o.byte_shuffle = true;
  ASSERT_TRUE(write(dir.file("shuf.thaw"), model.contents, o).is_ok());
  EXPECT_LT(fs::file_size(dir.file("shuf.thaw")), fs::file_size(dir.file("plain.thaw")));
}

TEST(Bundle, EmptyBundleRoundTrips) {
  TempDir dir;
  BundleContents c;
  c.name = "empty";
  for (auto comp : {Compression::kNone, Compression::kZstd}) {
    WriteOptions o;
    o.compression = comp;
    ASSERT_TRUE(write(dir.file("e.thaw"), c, o).is_ok());
    auto r = Reader::open(dir.file("e.thaw"));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->manifest().data_length, 0u);
    EXPECT_TRUE(r->manifest().chunks.empty());
    EXPECT_TRUE(r->verify().is_ok());
  }
}

TEST(Bundle, WriterRejectsBadContents) {
  TempDir dir;
  auto model = sample_model();
  model.contents.tensors[1].shape = {128, 256};
  Status s = write(dir.file("x.thaw"), model.contents, {});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("layer.0.weight"), std::string::npos) << s.message();

  model = sample_model();
  model.contents.tensors[2].name = "embeddings";
  s = write(dir.file("x.thaw"), model.contents, {});
  EXPECT_NE(s.message().find("two tensors are named 'embeddings'"), std::string::npos) << s.message();

  model = sample_model();
  model.contents.warmup[0].inputs[0].file = "warmup/missing";
  s = write(dir.file("x.thaw"), model.contents, {});
  EXPECT_NE(s.message().find("warmup/missing"), std::string::npos) << s.message();

  model = sample_model();
  WriteOptions o;
  o.chunk_size = 1000;
  EXPECT_EQ(write(dir.file("x.thaw"), model.contents, o).code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.file("x.thaw")));
}

TEST(Bundle, WriteIsAtomicAndLeavesNoTempFiles) {
  TempDir dir;
  auto model = sample_model();
  const std::string path = dir.file("m.thaw");
  ASSERT_TRUE(write(path, model.contents, {}).is_ok());
  model.contents.name = "second";
  ASSERT_TRUE(write(path, model.contents, {}).is_ok());
  auto r = Reader::open(path);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->manifest().name, "second");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
  Status s = write(dir.file("no/such/dir/m.thaw"), model.contents, {});
  EXPECT_EQ(s.code(), Code::kIo);
}

TEST(Bundle, OpenMissingFileIsNotFound) {
  auto r = Reader::open("/nonexistent/thaw/bundle.thaw");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(Shuffle, MapsLanesToPlanesAndBack) {
  // Two 4-byte elements and 2 trailing bytes: planes of byte 0s, 1s, 2s, 3s, then the tail.
  std::vector<std::byte> in;
  for (int v : {0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23, 0x30, 0x31}) in.push_back(std::byte(v));
  std::vector<std::byte> out(in.size()), back(in.size());
  shuffle_bytes(in, out);
  std::vector<std::byte> want;
  for (int v : {0x10, 0x20, 0x11, 0x21, 0x12, 0x22, 0x13, 0x23, 0x30, 0x31}) want.push_back(std::byte(v));
  EXPECT_EQ(out, want);
  unshuffle_bytes(out, back);
  EXPECT_EQ(back, in);
}

}  // namespace
}  // namespace thaw::bundle
