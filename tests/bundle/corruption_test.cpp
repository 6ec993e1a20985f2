// Every class of damage the reader must survive: each test crafts a bad bundle and checks for one
// clear error naming the field, tensor or file, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "bundle/bundle.h"
#include "bundle/format.h"
#include "bundle/hash.h"
#include "test_bundles.h"

namespace thaw::bundle {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Bytes = std::vector<std::byte>;

Bytes make_bundle(Compression compression, bool shuffle = true) {
  auto model = testing::sample_model();
  WriteOptions o;
  o.compression = compression;
  o.byte_shuffle = shuffle;
  o.chunk_size = 64 << 10;
  o.threads = 2;
  std::string path = (fs::temp_directory_path() / ("thaw_corrupt_" + std::to_string(::getpid()) + ".thaw")).string();
  Status s = write(path, model.contents, o);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(path);
  Bytes out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

void put_u64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
void put_u32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
uint64_t get_u64(const Bytes& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<uint64_t>(b[at + i]);
  return v;
}
// Recomputes the header checksum so a test reaches the check behind it.
void reseal_header(Bytes& b) { put_u64(b, 56, xxh3_64(std::span(b.data(), 56))); }

// Rebuilds the file around an edited manifest: the data section moves to a fixed later offset
// (chunk file offsets are shifted first), then `edit` changes the JSON, then the header is redone.
Bytes with_manifest(const Bytes& original, const std::function<void(json&)>& edit) {
  const uint64_t m_off = get_u64(original, 8), m_len = get_u64(original, 16), d_off = get_u64(original, 24);
  json j = json::parse(std::string(reinterpret_cast<const char*>(original.data() + m_off), m_len));
  const uint64_t new_d_off = align_up(kHeaderSize + m_len, 4096) + (4 << 20);
  for (auto& c : j["chunks"]) c["file_offset"] = c["file_offset"].get<uint64_t>() + new_d_off - d_off;
  edit(j);
  std::string text = j.dump();
  EXPECT_LE(kHeaderSize + text.size(), new_d_off) << "edited manifest too large for the test helper";
  Bytes out(new_d_off, std::byte{0});
  std::memcpy(out.data() + kHeaderSize, text.data(), text.size());
  out.insert(out.end(), original.begin() + static_cast<std::ptrdiff_t>(d_off), original.end());
  std::memcpy(out.data(), original.data(), 8);
  put_u64(out, 8, kHeaderSize);
  put_u64(out, 16, text.size());
  put_u64(out, 24, new_d_off);
  put_u64(out, 32, out.size() - new_d_off);
  put_u64(out, 40, out.size());
  put_u64(out, 48, xxh3_64(std::as_bytes(std::span(text))));
  reseal_header(out);
  return out;
}

// Expects opening to fail with `code` and a message containing every one of `parts`.
void expect_open_error(const Bytes& b, Code code, std::initializer_list<std::string_view> parts) {
  auto r = Reader::from_memory(b);
  ASSERT_FALSE(r.is_ok()) << "opened a damaged bundle";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  for (auto p : parts) EXPECT_NE(r.status().message().find(p), std::string::npos) << "missing '" << p << "' in: "
                                                                                   << r.status().to_string();
}

// Expects opening to succeed and verify() to fail naming `parts`.
void expect_verify_error(const Bytes& b, std::initializer_list<std::string_view> parts) {
  auto r = Reader::from_memory(b);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  Status s = r->verify();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kCorrupt) << s.to_string();
  for (auto p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << "missing '" << p << "' in: " << s.to_string();
}

class Corruption : public ::testing::TestWithParam<Compression> {
 protected:
  Bytes good_ = make_bundle(GetParam());
  const Manifest manifest_ = Reader::from_memory(good_)->manifest();
};

TEST_P(Corruption, GoodBundleIsAccepted) {
  auto r = Reader::from_memory(good_);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->verify().is_ok());
  // The helper itself must produce valid files, or the tests below prove nothing.
  Bytes same = with_manifest(good_, [](json&) {});
  auto r2 = Reader::from_memory(same);
  ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
  EXPECT_TRUE(r2->verify().is_ok());
}

TEST_P(Corruption, BadMagic) {
  Bytes b = good_;
  b[0] = std::byte{'X'};
  expect_open_error(b, Code::kCorrupt, {"bad magic"});
}

TEST_P(Corruption, NewerVersionIsUnsupported) {
  Bytes b = good_;
  put_u32(b, 4, 2);
  reseal_header(b);
  expect_open_error(b, Code::kUnsupported, {"format version 2"});
}

TEST_P(Corruption, VersionZero) {
  Bytes b = good_;
  put_u32(b, 4, 0);
  reseal_header(b);
  expect_open_error(b, Code::kCorrupt, {"version"});
}

TEST_P(Corruption, HeaderChecksum) {
  Bytes b = good_;
  b[20] ^= std::byte{1};
  expect_open_error(b, Code::kCorrupt, {"header checksum"});
}

TEST_P(Corruption, TruncatedFile) {
  for (size_t keep : {size_t{0}, size_t{10}, size_t{63}, size_t{64}, size_t{200}, good_.size() - 1}) {
    Bytes b(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(keep));
    expect_open_error(b, Code::kCorrupt, {"truncated"});
  }
}

TEST_P(Corruption, TrailingBytes) {
  Bytes b = good_;
  b.push_back(std::byte{0});
  expect_open_error(b, Code::kCorrupt, {"file_length"});
}

TEST_P(Corruption, AbsurdManifestLength) {
  Bytes b = good_;
  put_u64(b, 16, uint64_t{1} << 40);
  reseal_header(b);
  expect_open_error(b, Code::kCorrupt, {"manifest_length"});
}

TEST_P(Corruption, ManifestPastEnd) {
  Bytes b = good_;
  put_u64(b, 8, b.size() - 10);
  reseal_header(b);
  expect_open_error(b, Code::kCorrupt, {"manifest_length", "past the end"});
}

TEST_P(Corruption, DataOffsetMisaligned) {
  Bytes b = good_;
  put_u64(b, 24, get_u64(b, 24) + 8);
  reseal_header(b);
  expect_open_error(b, Code::kCorrupt, {"data_offset"});
}

TEST_P(Corruption, DataOffsetInsideManifest) {
  Bytes b = good_;
  put_u64(b, 24, 0);
  reseal_header(b);
  expect_open_error(b, Code::kCorrupt, {"data_offset"});
}

TEST_P(Corruption, ManifestChecksum) {
  Bytes b = good_;
  b[kHeaderSize + 5] ^= std::byte{0x20};
  expect_open_error(b, Code::kCorrupt, {"manifest checksum"});
}

TEST_P(Corruption, ManifestNotJson) {
  Bytes b = good_;
  const uint64_t len = get_u64(b, 16);
  b[kHeaderSize + len / 2] = std::byte{'\x01'};
  put_u64(b, 48, xxh3_64(std::span(b.data() + kHeaderSize, len)));
  reseal_header(b);
  expect_open_error(b, Code::kCorrupt, {"not valid JSON"});
}

TEST_P(Corruption, ManifestTooDeep) {
  auto b = with_manifest(good_, [](json& j) {
    json deep = json::object();
    for (int i = 0; i < 200; ++i) deep = json{{"x", deep}};
    j["metadata"] = deep;
  });
  expect_open_error(b, Code::kCorrupt, {"nested deeper"});
}

TEST_P(Corruption, MissingAndMistypedFields) {
  expect_open_error(with_manifest(good_, [](json& j) { j.erase("tensors"); }), Code::kCorrupt, {"no field 'tensors'"});
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][1]["offset"] = "12"; }), Code::kCorrupt,
                    {"tensors[1] 'layer.0.weight'.offset", "not a non-negative integer"});
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][1]["offset"] = -4096; }), Code::kCorrupt,
                    {"tensors[1] 'layer.0.weight'.offset"});
  expect_open_error(with_manifest(good_, [](json& j) { j["metadata"] = 3; }), Code::kCorrupt, {"metadata"});
  expect_open_error(with_manifest(good_, [](json& j) { j["chunk_size"] = 100; }), Code::kCorrupt, {"chunk_size"});
  expect_open_error(with_manifest(good_, [](json& j) { j["compression"] = "lz4"; }), Code::kUnsupported, {"lz4"});
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][0]["checksum"] = "xyz"; }), Code::kCorrupt,
                    {"'embeddings'.checksum"});
  expect_open_error(with_manifest(good_, [](json& j) { j["name"] = std::string(5000, 'n'); }), Code::kCorrupt,
                    {"manifest: name is 5000 bytes", "over the limit"});
}

TEST_P(Corruption, TensorOffsetPastEnd) {
  auto b = with_manifest(good_, [](json& j) { j["tensors"][2]["offset"] = j["data_length"].get<uint64_t>() + 4096; });
  expect_open_error(b, Code::kCorrupt, {"tensors[2] 'layer.0.bias'", "past the end"});
}

TEST_P(Corruption, TensorLengthPastEnd) {
  auto b = with_manifest(good_, [](json& j) {
    j["tensors"][7]["shape"] = {uint64_t{1} << 40};
    j["tensors"][7]["length"] = uint64_t{1} << 42;
  });
  expect_open_error(b, Code::kCorrupt, {"tensors[7] 'big'", "past the end"});
}

TEST_P(Corruption, TensorOffsetMisaligned) {
  auto b = with_manifest(good_, [](json& j) { j["tensors"][1]["offset"] = j["tensors"][1]["offset"].get<uint64_t>() + 4; });
  expect_open_error(b, Code::kCorrupt, {"'layer.0.weight'", "not a multiple of 4096"});
}

TEST_P(Corruption, OverlappingTensors) {
  auto b = with_manifest(good_, [](json& j) { j["tensors"][2]["offset"] = j["tensors"][1]["offset"]; });
  expect_open_error(b, Code::kCorrupt, {"overlaps", "layer.0.bias", "layer.0.weight"});
}

TEST_P(Corruption, FileOverlapsTensor) {
  auto b = with_manifest(good_, [](json& j) { j["files"][0]["offset"] = j["tensors"][0]["offset"]; });
  expect_open_error(b, Code::kCorrupt, {"overlaps", "file 'config.json'", "tensor 'embeddings'"});
}

TEST_P(Corruption, SizeNotMatchingShape) {
  auto b = with_manifest(good_, [](json& j) { j["tensors"][1]["shape"] = {128, 256}; });
  expect_open_error(b, Code::kCorrupt, {"'layer.0.weight'", "does not match FP32 x [128,256]"});
}

TEST_P(Corruption, ShapeOverflow) {
  auto b = with_manifest(good_, [](json& j) { j["tensors"][1]["shape"] = {uint64_t{1} << 40, uint64_t{1} << 40}; });
  expect_open_error(b, Code::kCorrupt, {"'layer.0.weight'.shape", "overflows"});
}

TEST_P(Corruption, BadDtypeAndRank) {
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][0]["dtype"] = "FP8"; }), Code::kCorrupt,
                    {"'embeddings'.dtype", "FP8"});
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][0]["shape"] = json(std::vector<int>(17, 1)); }),
                    Code::kCorrupt, {"'embeddings'.shape", "over the limit"});
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][0]["shape"][0] = -1; }), Code::kCorrupt,
                    {"'embeddings'.shape[0]"});
}

TEST_P(Corruption, DuplicateNames) {
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][3]["name"] = "ids"; }), Code::kCorrupt,
                    {"'ids'", "duplicate tensor name"});
  expect_open_error(with_manifest(good_, [](json& j) { j["files"][1]["name"] = "config.json"; }), Code::kCorrupt,
                    {"'config.json'", "duplicate file name"});
  expect_open_error(with_manifest(good_, [](json& j) { j["tensors"][3]["name"] = ""; }), Code::kCorrupt,
                    {"tensors[3].name is empty"});
}

TEST_P(Corruption, AbsurdCounts) {
  auto b = with_manifest(good_, [](json& j) {
    json many = json::array();
    for (size_t i = 0; i <= kMaxTensors; ++i) many.push_back(0);
    j["tensors"] = many;
  });
  expect_open_error(b, Code::kCorrupt, {"tensors has 1048577 entries, over the limit"});
  b = with_manifest(good_, [](json& j) {
    for (int i = 0; i < 400; ++i) j["chunks"].push_back(j["chunks"][0]);
  });
  expect_open_error(b, Code::kCorrupt, {"chunks has", "over the limit"});
  b = with_manifest(good_, [](json& j) { j["data_length"] = uint64_t{1} << 60; });
  expect_open_error(b, Code::kCorrupt, {"data_length"});
}

TEST_P(Corruption, ChunksWithGapsOrShort) {
  expect_open_error(with_manifest(good_, [](json& j) { j["chunks"][1]["offset"] = j["chunks"][1]["offset"].get<uint64_t>() + 4096; }),
                    Code::kCorrupt, {"chunks[1].offset", "tile"});
  expect_open_error(with_manifest(good_, [](json& j) { j["chunks"].erase(j["chunks"].size() - 1); }), Code::kCorrupt,
                    {"chunks cover"});
  expect_open_error(with_manifest(good_, [](json& j) { j["chunks"][0]["id"] = "00"; }), Code::kCorrupt,
                    {"chunks[0].id"});
  expect_open_error(with_manifest(good_, [](json& j) { j["chunks"][2]["file_offset"] = 0; }), Code::kCorrupt,
                    {"chunks[2].file_offset"});
}

TEST_P(Corruption, ChunkStoredPastEnd) {
  auto b = with_manifest(good_, [](json& j) {
    auto& last = j["chunks"][j["chunks"].size() - 1];
    last["stored_length"] = last["stored_length"].get<uint64_t>() + 4096;
  });
  auto r = Reader::from_memory(b);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("chunks["), std::string::npos) << r.status().to_string();
}

TEST_P(Corruption, WarmupFileMissingOrWrongSize) {
  expect_open_error(with_manifest(good_, [](json& j) { j["warmup"][0]["inputs"][0]["file"] = "warmup/9/x"; }),
                    Code::kCorrupt, {"input 'input_ids'", "warmup/9/x"});
  expect_open_error(with_manifest(good_, [](json& j) { j["warmup"][0]["inputs"][0]["shape"] = {2, 5}; }),
                    Code::kCorrupt, {"input 'input_ids'", "needs 80"});
}

TEST_P(Corruption, TensorChecksumMismatchOnVerify) {
  // The data is intact but the manifest's checksum for one tensor is wrong.
  auto b = with_manifest(good_, [](json& j) { j["tensors"][2]["checksum"] = "0123456789abcdef"; });
  expect_verify_error(b, {"tensor 'layer.0.bias' checksum mismatch"});
  b = with_manifest(good_, [](json& j) { j["files"][1]["checksum"] = "0123456789abcdef"; });
  expect_verify_error(b, {"file 'tokenizer.json' checksum mismatch"});
}

TEST_P(Corruption, FlippedDataByteIsNamedOnVerify) {
  const TensorEntry* t = manifest_.find_tensor("layer.0.weight");
  ASSERT_NE(t, nullptr);
  Bytes b = good_;
  if (GetParam() == Compression::kNone) {
    b[manifest_.data_offset + t->offset + t->length / 2] ^= std::byte{0x40};
  } else {
    const ChunkEntry* hit = nullptr;
    for (const auto& c : manifest_.chunks)
      if (c.data_offset == t->offset) hit = &c;
    ASSERT_NE(hit, nullptr);
    b[hit->file_offset + hit->stored_length / 2] ^= std::byte{0x40};
  }
  auto r = Reader::from_memory(b);
  ASSERT_TRUE(r.is_ok()) << "data damage is found by verify, not open";
  expect_verify_error(b, {"layer.0.weight"});
}

TEST_P(Corruption, ReadsOfDamagedChunksFailCleanly) {
  Bytes b = good_;
  for (const auto& c : manifest_.chunks)
    for (uint64_t i = 0; i < c.stored_length; i += 97) b[c.file_offset + i] ^= std::byte{0x5a};
  auto r = Reader::from_memory(b);
  ASSERT_TRUE(r.is_ok());
  for (const auto& t : manifest_.tensors) {
    auto got = r->read_tensor(t.name);  // garbage or an error, never a crash
    if (!got.is_ok()) {
      EXPECT_EQ(got.status().code(), Code::kCorrupt);
    }
  }
  EXPECT_FALSE(r->verify().is_ok());
}

INSTANTIATE_TEST_SUITE_P(Bundle, Corruption, ::testing::Values(Compression::kNone, Compression::kZstd),
                         [](const auto& info) { return info.param == Compression::kNone ? "none" : "zstd"; });

TEST(CorruptionZstd, StoredLengthOverBound) {
  Bytes good = make_bundle(Compression::kZstd);
  auto b = with_manifest(good, [](json& j) { j["chunks"][0]["stored_length"] = uint64_t{1} << 30; });
  expect_open_error(b, Code::kCorrupt, {"chunks[0].stored_length", "zstd bound"});
  b = with_manifest(good, [](json& j) { j["byte_shuffle"] = "yes"; });
  expect_open_error(b, Code::kCorrupt, {"byte_shuffle"});
}

TEST(CorruptionNone, ShuffleOnUncompressedIsRejected) {
  Bytes good = make_bundle(Compression::kNone);
  auto b = with_manifest(good, [](json& j) { j["byte_shuffle"] = true; });
  expect_open_error(b, Code::kCorrupt, {"byte_shuffle"});
  b = with_manifest(good, [](json& j) { j["chunks"][0]["stored_length"] = j["chunks"][0]["length"].get<uint64_t>() - 4096; });
  expect_open_error(b, Code::kCorrupt, {"chunks[0].stored_length"});
}

TEST(CorruptionFile, TruncatedOnDiskAndNotARegularFile) {
  Bytes good = make_bundle(Compression::kNone);
  auto path = fs::temp_directory_path() / ("thaw_trunc_" + std::to_string(::getpid()) + ".thaw");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(good.data()), static_cast<std::streamsize>(good.size() - 4096));
  }
  auto r = Reader::open(path.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().to_string();
  EXPECT_NE(r.status().message().find(path.string()), std::string::npos) << r.status().to_string();
  fs::remove(path);
  auto d = Reader::open(fs::temp_directory_path().string());
  ASSERT_FALSE(d.is_ok());
  EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace thaw::bundle
