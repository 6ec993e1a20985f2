// Each gRPC call of the inference service as the REST request that means the same, and each REST
// answer back as the gRPC reply: one set of routes serves both protocols.
#pragma once

#include <string>
#include <string_view>

#include <grpcpp/support/status.h>
#include <nlohmann/json_fwd.hpp>

#include "http/message.h"
#include "inference.pb.h"

namespace thaw::grpc_front {

// "/v2/models/{name}" or "/v2/models/{name}/versions/{version}", each part percent-encoded.
std::string model_path(std::string_view name, std::string_view version);
http::Request rest_get(std::string path);
http::Request rest_post(std::string path, std::string json_body);

// The gRPC status for a REST answer that is not 2xx, with the message of its {"error"} body.
::grpc::Status status_of(const http::Response& response);
// The JSON body of a 2xx answer, or INTERNAL naming what was wrong with it.
::grpc::Status parse_json(const http::Response& response, nlohmann::json* out);

// REST JSON bodies to replies. INVALID_ARGUMENT-free: a malformed body from our own routes is INTERNAL.
::grpc::Status to_server_metadata(const nlohmann::json& j, inference::ServerMetadataResponse* out);
::grpc::Status to_model_metadata(const nlohmann::json& j, inference::ModelMetadataResponse* out);
::grpc::Status to_statistics(const nlohmann::json& j, inference::ModelStatisticsResponse* out);
::grpc::Status to_index(const nlohmann::json& j, inference::RepositoryIndexResponse* out);
// The REST config body (Triton's model configuration as JSON); keys this service does not declare
// are skipped.
::grpc::Status to_model_config(const std::string& body, inference::ModelConfig* out);

// Repository parameters as the REST load body's "parameters"; bytes values (a model file) are
// passed as base64 text, as the REST form carries them.
std::string load_body(const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters);

}  // namespace thaw::grpc_front
