#include "worker/kserve_codec.h"

#include <cstring>

#include <gtest/gtest.h>

namespace thaw::worker {
namespace {
using json = nlohmann::json;

template <typename T>
std::vector<T> values(const WireTensor& t) {
  std::vector<T> out(t.data.size() / sizeof(T));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

TEST(KServeDecode, NestedAndFlatJsonGiveTheSameRowMajorData) {
  auto nested = decode_infer_request(
      R"({"id":"r1","inputs":[{"name":"x","datatype":"INT64","shape":[2,3],"data":[[1,2,3],[4,5,6]]}]})",
      std::nullopt);
  auto flat = decode_infer_request(
      R"({"inputs":[{"name":"x","datatype":"INT64","shape":[2,3],"data":[1,2,3,4,5,6]}]})", std::nullopt);
  ASSERT_TRUE(nested.is_ok()) << nested.status().to_string();
  ASSERT_TRUE(flat.is_ok());
  EXPECT_EQ(nested->id, "r1");
  EXPECT_EQ(values<int64_t>(nested->inputs[0]), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(values<int64_t>(nested->inputs[0]), values<int64_t>(flat->inputs[0]));
  EXPECT_EQ(nested->inputs[0].shape, (std::vector<int64_t>{2, 3}));
}

TEST(KServeDecode, EveryNumericTypeConverts) {
  auto r = decode_infer_request(R"({"inputs":[
      {"name":"f","datatype":"FP32","shape":[2],"data":[1.5,-2]},
      {"name":"d","datatype":"FP64","shape":[1],"data":[0.25]},
      {"name":"h","datatype":"FP16","shape":[2],"data":[1.0,-0.5]},
      {"name":"b","datatype":"BF16","shape":[1],"data":[2.0]},
      {"name":"u","datatype":"UINT8","shape":[1],"data":[255]},
      {"name":"i","datatype":"INT32","shape":[1],"data":[-7]},
      {"name":"q","datatype":"BOOL","shape":[2],"data":[true,false]}]})", std::nullopt);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values<float>(r->inputs[0]), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(values<double>(r->inputs[1]), (std::vector<double>{0.25}));
  EXPECT_EQ(values<uint16_t>(r->inputs[2]), (std::vector<uint16_t>{0x3c00, 0xb800}));
  EXPECT_EQ(values<uint16_t>(r->inputs[3]), (std::vector<uint16_t>{0x4000}));
  EXPECT_EQ(values<uint8_t>(r->inputs[4]), (std::vector<uint8_t>{255}));
  EXPECT_EQ(values<int32_t>(r->inputs[5]), (std::vector<int32_t>{-7}));
  EXPECT_EQ(values<uint8_t>(r->inputs[6]), (std::vector<uint8_t>{1, 0}));
}

TEST(KServeDecode, BytesFromJsonAndBinary) {
  auto j = decode_infer_request(
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["hello","world"]}]})",
      std::nullopt);
  ASSERT_TRUE(j.is_ok());
  EXPECT_EQ(j->inputs[0].strings, (std::vector<std::string>{"hello", "world"}));

  std::string header = R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]})";
  std::string binary;
  for (std::string s : {"abc", ""}) {
    uint32_t len = static_cast<uint32_t>(s.size());
    binary.append(reinterpret_cast<char*>(&len), 4);
    binary += s;
  }
  ASSERT_EQ(binary.size(), 11u);
  auto b = decode_infer_request(header + binary, header.size());
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(b->inputs[0].strings, (std::vector<std::string>{"abc", ""}));
}

TEST(KServeDecode, BinaryNumericPointsIntoTheBody) {
  std::string header = R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}},
                                     {"name":"b","datatype":"INT64","shape":[1],"data":[9]}],
                           "outputs":[{"name":"y","parameters":{"binary_data":true}},{"name":"z"}]})";
  float f[2] = {3.0f, 4.0f};
  std::string body = header + std::string(reinterpret_cast<char*>(f), 8);
  auto r = decode_infer_request(body, header.size());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values<float>(r->inputs[0]), (std::vector<float>{3.0f, 4.0f}));
  EXPECT_EQ(reinterpret_cast<const char*>(r->inputs[0].data.data()), body.data() + header.size());
  EXPECT_EQ(values<int64_t>(r->inputs[1]), (std::vector<int64_t>{9}));
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_TRUE(r->outputs[0].binary);
  EXPECT_FALSE(r->outputs[1].binary);
}

struct BadCase {
  const char* what;
  std::string body;
  std::optional<uint64_t> header_length;
};

TEST(KServeDecode, BadRequestsGetClearErrors) {
  std::string bin_header = R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  std::vector<BadCase> cases = {
      {"not json", "{oops", std::nullopt},
      {"not an object", "[1,2]", std::nullopt},
      {"no inputs", R"({"id":"x"})", std::nullopt},
      {"empty inputs", R"({"inputs":[]})", std::nullopt},
      {"no name", R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})", std::nullopt},
      {"unknown datatype", R"({"inputs":[{"name":"a","datatype":"FP8","shape":[1],"data":[1]}]})", std::nullopt},
      {"too few elements", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[3],"data":[1,2]}]})", std::nullopt},
      {"too many elements", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1,2]}]})", std::nullopt},
      {"negative dim", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[-1],"data":[]}]})", std::nullopt},
      {"overflowing shape", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[4294967296,4294967296],"data":[]}]})", std::nullopt},
      {"float into int", R"({"inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[1.5]}]})", std::nullopt},
      {"out of range", R"({"inputs":[{"name":"a","datatype":"INT8","shape":[1],"data":[300]}]})", std::nullopt},
      {"negative unsigned", R"({"inputs":[{"name":"a","datatype":"UINT32","shape":[1],"data":[-1]}]})", std::nullopt},
      {"string into float", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":["1"]}]})", std::nullopt},
      {"number into bytes", R"({"inputs":[{"name":"a","datatype":"BYTES","shape":[1],"data":[1]}]})", std::nullopt},
      {"duplicate input", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},{"name":"a","datatype":"FP32","shape":[1],"data":[1]}]})", std::nullopt},
      {"no data", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1]}]})", std::nullopt},
      {"binary without header", bin_header, std::nullopt},
      {"binary short", bin_header + "1234", bin_header.size()},
      {"binary extra", bin_header + "123456789", bin_header.size()},
      {"header length past body", "{}", 100},
      {"shared memory", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"shared_memory_region":"r"}}]})", std::nullopt},
      {"bad binary_data flag", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})", std::nullopt},
      {"deep nesting", R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":)" + std::string(100, '[') + "1" + std::string(100, ']') + "}]}", std::nullopt},
  };
  for (const auto& c : cases) {
    auto r = decode_infer_request(c.body, c.header_length);
    EXPECT_FALSE(r.is_ok()) << c.what;
    if (!r.is_ok()) {
      EXPECT_TRUE(r.status().code() == Code::kInvalidArgument || r.status().code() == Code::kUnsupported) << c.what;
      EXPECT_FALSE(r.status().message().empty()) << c.what;
    }
  }
}

TEST(KServeDecode, HeaderLengthParsing) {
  EXPECT_EQ(parse_header_length("123").value(), 123u);
  EXPECT_FALSE(parse_header_length("").is_ok());
  EXPECT_FALSE(parse_header_length("-1").is_ok());
  EXPECT_FALSE(parse_header_length("12a").is_ok());
  EXPECT_FALSE(parse_header_length("99999999999999999999999").is_ok());
}

TEST(KServeEncode, JsonAndBinaryOutputs) {
  float emb[4] = {0.5f, -1.0f, 2.0f, 0.0f};
  std::vector<int64_t> shape = {2, 2};
  std::vector<std::string> words = {"a", "bc"};
  std::vector<int64_t> wshape = {2};
  OutputTensorView outs[] = {
      {"emb", WireType{false, DType::kF32}, shape, std::as_bytes(std::span(emb)), {}, false},
      {"raw", WireType{false, DType::kF32}, shape, std::as_bytes(std::span(emb)), {}, true},
      {"words", WireType{true, DType::kU8}, wshape, {}, words, false},
  };
  auto r = encode_infer_response("m", "1", "req", outs);
  ASSERT_TRUE(r.header_length.has_value());
  auto doc = json::parse(r.body.substr(0, *r.header_length));
  EXPECT_EQ(doc["model_name"], "m");
  EXPECT_EQ(doc["id"], "req");
  EXPECT_EQ(doc["outputs"][0]["data"], json({0.5, -1.0, 2.0, 0.0}));
  EXPECT_EQ(doc["outputs"][0]["shape"], json({2, 2}));
  EXPECT_EQ(doc["outputs"][1]["parameters"]["binary_data_size"], 16);
  EXPECT_FALSE(doc["outputs"][1].contains("data"));
  EXPECT_EQ(doc["outputs"][2]["data"], json({"a", "bc"}));
  ASSERT_EQ(r.body.size(), *r.header_length + 16);
  EXPECT_EQ(std::memcmp(r.body.data() + *r.header_length, emb, 16), 0);
}

TEST(KServeEncode, JsonOnlyHasNoHeaderLength) {
  int64_t v[1] = {42};
  std::vector<int64_t> shape = {1};
  OutputTensorView outs[] = {{"n", WireType{false, DType::kI64}, shape, std::as_bytes(std::span(v)), {}, false}};
  auto r = encode_infer_response("m", "", "", outs);
  EXPECT_FALSE(r.header_length.has_value());
  auto doc = json::parse(r.body);
  EXPECT_EQ(doc["outputs"][0]["data"][0], 42);
  EXPECT_FALSE(doc.contains("id"));
}

TEST(KServeEncode, RoundTripsThroughTheDecoder) {
  // A response's binary layout is the request's: decoding an encoded tensor gives it back.
  float x[3] = {1.0f, 2.5f, -3.0f};
  std::vector<int64_t> shape = {3};
  OutputTensorView outs[] = {{"x", WireType{false, DType::kF32}, shape, std::as_bytes(std::span(x)), {}, true}};
  auto enc = encode_infer_response("m", "1", "", outs);
  auto doc = json::parse(enc.body.substr(0, *enc.header_length));
  json req = {{"inputs", json::array({{{"name", "x"}, {"datatype", "FP32"}, {"shape", {3}},
                                       {"parameters", doc["outputs"][0]["parameters"]}}})}};
  std::string header = req.dump();
  std::string body = header + enc.body.substr(*enc.header_length);  // tensors point into it
  auto dec = decode_infer_request(body, header.size());
  ASSERT_TRUE(dec.is_ok()) << dec.status().to_string();
  EXPECT_EQ(values<float>(dec->inputs[0]), (std::vector<float>{1.0f, 2.5f, -3.0f}));
}

}  // namespace
}  // namespace thaw::worker
