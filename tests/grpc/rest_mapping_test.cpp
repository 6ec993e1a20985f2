// REST answers as gRPC replies: status codes, error messages, metadata, statistics and the index.
#include "grpc/rest_mapping.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace thaw::grpc_front {
namespace {

using json = nlohmann::json;

TEST(RestMapping, StatusCodesFollowTheHttpStatus) {
  auto code = [](int status) { return status_of(http::Response::error(status, "why")).error_code(); };
  EXPECT_EQ(code(400), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(401), ::grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(code(403), ::grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(code(404), ::grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(code(413), ::grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(code(429), ::grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(code(499), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(code(500), ::grpc::StatusCode::INTERNAL);
  EXPECT_EQ(code(502), ::grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(code(503), ::grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(code(504), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status_of(http::Response::error(404, "no model 'x'")).error_message(), "no model 'x'");
  EXPECT_EQ(status_of(http::Response::text(502, "")).error_message(), "HTTP status 502");
}

TEST(RestMapping, ModelPathsAreEncoded) {
  EXPECT_EQ(model_path("minilm", ""), "/v2/models/minilm");
  EXPECT_EQ(model_path("a b/c", "1"), "/v2/models/a%20b%2Fc/versions/1");
}

TEST(RestMapping, MetadataStatisticsAndIndex) {
  inference::ModelMetadataResponse meta;
  ASSERT_TRUE(to_model_metadata(json::parse(R"({"name":"m","versions":["1"],"platform":"onnxruntime_onnx",
      "inputs":[{"name":"ids","datatype":"INT64","shape":[-1,-1]}],"outputs":[]})"), &meta).ok());
  EXPECT_EQ(meta.inputs(0).shape(0), -1);
  EXPECT_EQ(meta.versions(0), "1");
  EXPECT_EQ(to_model_metadata(json::parse(R"({"name":3})"), &meta).error_code(), ::grpc::StatusCode::INTERNAL);

  inference::ModelStatisticsResponse stats;
  ASSERT_TRUE(to_statistics(json::parse(R"({"model_stats":[{"name":"m","version":"1","last_inference":5,
      "inference_count":4,"execution_count":2,"inference_stats":{"success":{"count":2,"ns":900},
      "queue":{"count":2,"ns":30}}}]})"), &stats).ok());
  EXPECT_EQ(stats.model_stats(0).inference_stats().success().ns(), 900u);
  EXPECT_EQ(stats.model_stats(0).inference_count(), 4u);
  EXPECT_FALSE(to_statistics(json::parse(R"({"model_stats":{}})"), &stats).ok());

  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(to_index(json::parse(R"([{"name":"m","version":"1","state":"READY","reason":""}])"), &index).ok());
  EXPECT_EQ(index.models(0).state(), "READY");
  EXPECT_FALSE(to_index(json::parse(R"({"name":"m"})"), &index).ok());
}

TEST(RestMapping, ModelConfigFromTheRestBody) {
  inference::ModelConfig config;
  ASSERT_TRUE(to_model_config(R"({"name":"m","platform":"onnxruntime_onnx","max_batch_size":0,"future_key":1,
      "input":[{"name":"text","data_type":"TYPE_STRING","dims":[-1]}],
      "output":[{"name":"e","data_type":"TYPE_FP32","dims":[-1,384]}]})", &config).ok());
  EXPECT_EQ(config.input(0).data_type(), inference::TYPE_STRING);
  EXPECT_EQ(config.output(0).dims(1), 384);
  EXPECT_FALSE(to_model_config("not json", &config).ok());
}

TEST(RestMapping, LoadParametersKeepTheirTypes) {
  google::protobuf::Map<std::string, inference::ModelRepositoryParameter> p;
  EXPECT_EQ(load_body(p), "{}");
  p["config"].set_string_param("{}");
  p["file:1/model.onnx"].set_bytes_param("abcd");
  const json body = json::parse(load_body(p));
  EXPECT_EQ(body["parameters"]["config"], "{}");
  EXPECT_EQ(body["parameters"]["file:1/model.onnx"], "YWJjZA==");
}

}  // namespace
}  // namespace thaw::grpc_front
