// ModelInfer to the REST binary-tensor form and back: typed and raw contents, the header the worker
// reads, binary and JSON answers, and every malformed case as a status.
#include "grpc/infer_mapping.h"

#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace thaw::grpc_front {
namespace {

using json = nlohmann::json;

// The JSON header and binary tail of a REST /infer request.
std::pair<json, std::string> split(const http::Request& r) {
  const size_t n = std::stoull(std::string(r.header("Inference-Header-Content-Length").value()));
  return {json::parse(r.body.substr(0, n)), r.body.substr(n)};
}

TEST(InferMapping, TypedContentsBecomeRawBytes) {
  inference::ModelInferRequest in;
  in.set_model_name("m/odel");
  in.set_model_version("2");
  in.set_id("req-1");
  auto* ids = in.add_inputs();
  ids->set_name("input_ids");
  ids->set_datatype("INT64");
  ids->add_shape(1);
  ids->add_shape(2);
  ids->mutable_contents()->add_int64_contents(101);
  ids->mutable_contents()->add_int64_contents(-2);
  auto* text = in.add_inputs();
  text->set_name("text");
  text->set_datatype("BYTES");
  text->add_shape(2);
  text->mutable_contents()->add_bytes_contents("ab");
  text->mutable_contents()->add_bytes_contents("");
  (*in.mutable_parameters())["priority"].set_int64_param(3);

  http::Request out;
  ASSERT_TRUE(to_rest_infer(in, &out).ok());
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/v2/models/m%2Fodel/versions/2/infer");
  auto [head, tail] = split(out);
  EXPECT_EQ(head["id"], "req-1");
  EXPECT_EQ(head["parameters"]["priority"], 3);
  EXPECT_EQ(head["parameters"]["binary_data_output"], true);
  EXPECT_EQ(head["inputs"][0]["shape"], json::array({1, 2}));
  EXPECT_EQ(head["inputs"][0]["parameters"]["binary_data_size"], 16);
  EXPECT_EQ(head["inputs"][1]["parameters"]["binary_data_size"], 4 + 2 + 4);
  ASSERT_EQ(tail.size(), 26u);
  int64_t first = 0;
  std::memcpy(&first, tail.data(), 8);
  EXPECT_EQ(first, 101);
  EXPECT_EQ(tail.substr(16), std::string("\x02\x00\x00\x00" "ab" "\x00\x00\x00\x00", 10));
}

TEST(InferMapping, SmallIntegerTypesAreNarrowed) {
  inference::ModelInferRequest in;
  in.set_model_name("m");
  auto* t = in.add_inputs();
  t->set_name("x");
  t->set_datatype("INT16");
  t->add_shape(2);
  t->mutable_contents()->add_int_contents(-1);
  t->mutable_contents()->add_int_contents(7);
  http::Request out;
  ASSERT_TRUE(to_rest_infer(in, &out).ok());
  EXPECT_EQ(split(out).second, std::string("\xff\xff\x07\x00", 4));
}

TEST(InferMapping, RawContentsPassThroughAndRequestedOutputsStayBinary) {
  inference::ModelInferRequest in;
  in.set_model_name("m");
  auto* t = in.add_inputs();
  t->set_name("x");
  t->set_datatype("FP16");
  t->add_shape(1);
  in.add_raw_input_contents(std::string("\x01\x02", 2));
  in.add_outputs()->set_name("y");
  http::Request out;
  ASSERT_TRUE(to_rest_infer(in, &out).ok());
  auto [head, tail] = split(out);
  EXPECT_EQ(tail, std::string("\x01\x02", 2));
  EXPECT_EQ(head["outputs"][0]["name"], "y");
  EXPECT_EQ(head["outputs"][0]["parameters"]["binary_data"], true);
}

TEST(InferMapping, MalformedRequestsNameTheProblem) {
  inference::ModelInferRequest wrong_field;
  auto* t = wrong_field.add_inputs();
  t->set_name("ids");
  t->set_datatype("INT64");
  t->mutable_contents()->add_fp32_contents(1.0f);
  http::Request out;
  auto s = to_rest_infer(wrong_field, &out);
  EXPECT_EQ(s.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("int64_contents"), std::string::npos);

  inference::ModelInferRequest half_raw;
  half_raw.add_inputs()->set_name("a");
  half_raw.add_inputs()->set_name("b");
  half_raw.add_raw_input_contents("x");
  s = to_rest_infer(half_raw, &out);
  EXPECT_EQ(s.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("raw_input_contents"), std::string::npos);

  inference::ModelInferRequest both;
  auto* b = both.add_inputs();
  b->set_name("a");
  b->set_datatype("BYTES");
  b->mutable_contents()->add_bytes_contents("x");
  both.add_raw_input_contents("x");
  EXPECT_EQ(to_rest_infer(both, &out).error_code(), ::grpc::StatusCode::INVALID_ARGUMENT);

  inference::ModelInferRequest fp16_typed;
  auto* h = fp16_typed.add_inputs();
  h->set_name("h");
  h->set_datatype("FP16");
  h->mutable_contents()->add_fp32_contents(1.0f);
  s = to_rest_infer(fp16_typed, &out);
  EXPECT_EQ(s.error_code(), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("raw_input_contents"), std::string::npos);
}

TEST(InferMapping, BinaryAndJsonAnswersBothBecomeRaw) {
  const std::string head =
      R"({"model_name":"m","model_version":"1","id":"r","parameters":{"sequence_end":true},"outputs":[)"
      R"({"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"BYTES","shape":[2],"data":["xy","z"]},)"
      R"({"name":"c","datatype":"INT32","shape":[1,2],"data":[[5,-6]]}]})";
  http::Response r;
  r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(head.size()));
  float values[2] = {1.5f, -2.0f};
  r.body = head + std::string(reinterpret_cast<const char*>(values), 8);
  inference::ModelInferResponse out;
  ASSERT_TRUE(from_rest_infer(r, &out).ok());
  EXPECT_EQ(out.model_name(), "m");
  EXPECT_EQ(out.id(), "r");
  EXPECT_TRUE(out.parameters().at("sequence_end").bool_param());
  ASSERT_EQ(out.outputs_size(), 3);
  ASSERT_EQ(out.raw_output_contents_size(), 3);
  EXPECT_EQ(out.raw_output_contents(0), std::string(reinterpret_cast<const char*>(values), 8));
  EXPECT_EQ(out.outputs(0).parameters().count("binary_data_size"), 0u);
  EXPECT_EQ(out.raw_output_contents(1), std::string("\x02\x00\x00\x00xy\x01\x00\x00\x00z", 11));
  int32_t ints[2];
  ASSERT_EQ(out.raw_output_contents(2).size(), 8u);
  std::memcpy(ints, out.raw_output_contents(2).data(), 8);
  EXPECT_EQ(ints[0], 5);
  EXPECT_EQ(ints[1], -6);
}

TEST(InferMapping, MalformedAnswersAreInternal) {
  inference::ModelInferResponse out;
  http::Response r;
  r.body = "not json";
  EXPECT_EQ(from_rest_infer(r, &out).error_code(), ::grpc::StatusCode::INTERNAL);
  r.body = R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}}]})";
  r.headers = {{"Inference-Header-Content-Length", std::to_string(r.body.size())}};
  EXPECT_EQ(from_rest_infer(r, &out).error_code(), ::grpc::StatusCode::INTERNAL);  // the bytes are missing
  r.headers = {{"Inference-Header-Content-Length", "99999"}};
  EXPECT_EQ(from_rest_infer(r, &out).error_code(), ::grpc::StatusCode::INTERNAL);
  r.headers.clear();
  r.body = R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1],"data":["text"]}]})";
  EXPECT_EQ(from_rest_infer(r, &out).error_code(), ::grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace thaw::grpc_front
