// Packing safetensors (weights only) with its malformed variants, and warm-up requests from JSON.
#include <gtest/gtest.h>

#include <cstring>

#include "bundle/pack_safetensors.h"
#include "pack_test_files.h"

namespace thaw::bundle {
namespace {

using thaw::testing::as_string;
using thaw::testing::le_bytes;
using thaw::testing::TempDir;
using thaw::testing::write_file;

std::string safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

Status parse_st(const std::string& bytes, PackedModel* m) {
  return parse_safetensors(std::as_bytes(std::span(bytes.data(), bytes.size())), m);
}

TEST(PackSafetensors, ParsesTensorsInFileOrderWithMetadata) {
  TempDir dir;
  const std::string data = le_bytes<float>({1, 2, 3, 4, 5, 6}) + le_bytes<uint16_t>({7, 8});
  std::string header = R"({"b": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
                           "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                           "__metadata__": {"format": "pt"}})";
  write_file(dir.file("m.safetensors"), safetensors(header, data));
  auto packed = pack_safetensors(dir.file("m.safetensors"));
  ASSERT_TRUE(packed.is_ok()) << packed.status().to_string();
  const auto& c = (*packed)->contents;
  EXPECT_EQ(c.backend, "none");
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].name, "a");
  EXPECT_EQ(c.tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(as_string(c.tensors[0].data), data.substr(0, 24));
  EXPECT_EQ(c.tensors[1].dtype, DType::kF16);
  EXPECT_EQ(as_string(c.tensors[1].data), data.substr(24));
  EXPECT_EQ(c.metadata["safetensors"]["format"], "pt");
  ASSERT_TRUE(write(dir.file("m.thaw"), c, {}).is_ok());
  EXPECT_TRUE(Reader::open(dir.file("m.thaw"))->verify().is_ok());
}

TEST(PackSafetensors, MalformedFilesGiveClearErrors) {
  const std::string data(32, '\0');
  struct Case {
    std::string bytes;
    Code code;
    std::string part;
  };
  std::string huge(8, '\0');
  huge[7] = '\x01';
  const std::vector<Case> cases = {
      {"abc", Code::kCorrupt, "shorter than the 8-byte header length"},
      {huge + "{}", Code::kCorrupt, "is over"},
      {safetensors("{}", "").substr(0, 9), Code::kCorrupt, "runs past the end"},
      {safetensors("[1,2]", ""), Code::kCorrupt, "not a JSON object"},
      {safetensors("{\"a\": 1", ""), Code::kCorrupt, "not a JSON object"},
      {safetensors(std::string(100, '[') + std::string(100, ']'), ""), Code::kCorrupt, "nests too deeply"},
      {safetensors(R"({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", data), Code::kUnsupported,
       "tensor 'a': dtype 'F8_E4M3'"},
      {safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}})", data), Code::kCorrupt,
       "tensor 'a': 12 bytes, but F32 x [2] needs 8"},
      {safetensors(R"({"a": {"dtype": "F32", "shape": [10], "data_offsets": [0, 40]}})", data), Code::kCorrupt,
       "tensor 'a': data_offsets [0, 40] fall outside the 32 data bytes"},
      {safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", data), Code::kCorrupt,
       "tensor 'a': data_offsets [8, 0]"},
      {safetensors(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", data), Code::kCorrupt,
       "tensor 'a': a shape dim"},
      {safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", data), Code::kCorrupt,
       "tensor 'a': 'data_offsets' is not [begin, end]"},
      {safetensors(R"({"a": {"dtype": "U8", "shape": [20], "data_offsets": [0, 20]},
                       "b": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]},
                       "c": {"dtype": "U8", "shape": [4], "data_offsets": [10, 14]}})", data),
       Code::kCorrupt, "overlap"},
      {safetensors(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", data),
       Code::kCorrupt, "tensor 'a': shape is too large"},
      {safetensors(R"({"__metadata__": 3})", data), Code::kCorrupt, "__metadata__"},
  };
  for (const auto& c : cases) {
    PackedModel m;
    Status s = parse_st(c.bytes, &m);
    ASSERT_FALSE(s.is_ok()) << c.part;
    EXPECT_EQ(s.code(), c.code) << s.to_string();
    EXPECT_NE(s.message().find(c.part), std::string::npos) << "want '" << c.part << "' in: " << s.to_string();
  }
}

TEST(PackWarmup, JsonRequestsBecomeFiles) {
  PackedModel m;
  Status s = add_warmup_json(R"([{"input_ids": {"dtype": "INT64", "shape": [1, 3], "data": [101, 7, 102]},
                                   "mask": {"dtype": "BOOL", "shape": [3], "data": [true, 1, 0]}},
                                  {"x": {"dtype": "FP32", "shape": [2], "data": [0.5, -1]}}])", &m);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  ASSERT_EQ(m.contents.warmup.size(), 2u);
  ASSERT_EQ(m.contents.files.size(), 3u);
  EXPECT_EQ(m.contents.files[0].name, "warmup/0/input_ids");
  EXPECT_EQ(m.contents.files[0].data, le_bytes<int64_t>({101, 7, 102}));
  EXPECT_EQ(m.contents.files[1].data, std::string("\1\1\0", 3));
  EXPECT_EQ(m.contents.files[2].name, "warmup/1/x");
  EXPECT_EQ(m.contents.files[2].data, le_bytes<float>({0.5f, -1.f}));

  for (const char* bad : {R"({"x": {"dtype": "INT8", "shape": [1], "data": [300]}})",
                          R"({"x": {"dtype": "INT64", "shape": [2], "data": [1]}})",
                          R"({"x": {"dtype": "NOPE", "shape": [1], "data": [1]}})", R"({"x": 3})", "[", "{}"}) {
    PackedModel m2;
    Status e = add_warmup_json(bad, &m2);
    EXPECT_EQ(e.code(), Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace thaw::bundle
