#include "grpc/rest_mapping.h"

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

namespace thaw::grpc_front {
namespace {

using json = nlohmann::json;

::grpc::Status bad_reply(std::string_view what) {
  return {::grpc::StatusCode::INTERNAL, "the server's answer was malformed: " + std::string(what)};
}

::grpc::StatusCode code_for(int http_status) {
  switch (http_status) {
    case 400: return ::grpc::StatusCode::INVALID_ARGUMENT;
    case 401: return ::grpc::StatusCode::UNAUTHENTICATED;
    case 403: return ::grpc::StatusCode::PERMISSION_DENIED;
    case 404: return ::grpc::StatusCode::NOT_FOUND;
    case 405: case 501: return ::grpc::StatusCode::UNIMPLEMENTED;
    case 408: case 504: return ::grpc::StatusCode::DEADLINE_EXCEEDED;
    case 409: return ::grpc::StatusCode::FAILED_PRECONDITION;
    case 413: case 429: case 431: return ::grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 499: return ::grpc::StatusCode::CANCELLED;
    case 502: case 503: return ::grpc::StatusCode::UNAVAILABLE;
    default: return http_status >= 400 && http_status < 500 ? ::grpc::StatusCode::INVALID_ARGUMENT
                                                            : ::grpc::StatusCode::INTERNAL;
  }
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

template <class T>
bool read(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end()) return true;  // optional
  try {
    *out = it->get<T>();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

bool fill_tensors(const json& list, google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  if (!list.is_array()) return false;
  for (const auto& t : list) {
    if (!t.is_object()) return false;
    auto* m = out->Add();
    std::string name, datatype;
    std::vector<int64_t> shape;
    if (!read(t, "name", &name) || !read(t, "datatype", &datatype) || !read(t, "shape", &shape)) return false;
    m->set_name(name);
    m->set_datatype(datatype);
    for (int64_t d : shape) m->add_shape(d);
  }
  return true;
}

bool fill_duration(const json& j, const char* key, inference::StatisticDuration* out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  uint64_t count = 0, ns = 0;
  if (!it->is_object() || !read(*it, "count", &count) || !read(*it, "ns", &ns)) return false;
  out->set_count(count);
  out->set_ns(ns);
  return true;
}

}  // namespace

std::string model_path(std::string_view name, std::string_view version) {
  std::string p = "/v2/models/" + http::percent_encode(name);
  if (!version.empty()) p += "/versions/" + http::percent_encode(version);
  return p;
}

http::Request rest_get(std::string path) {
  http::Request r;
  r.method = "GET";
  r.target = path;
  r.path = std::move(path);
  return r;
}

http::Request rest_post(std::string path, std::string json_body) {
  http::Request r = rest_get(std::move(path));
  r.method = "POST";
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(json_body);
  return r;
}

::grpc::Status status_of(const http::Response& response) {
  std::string message;
  auto j = json::parse(response.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) {
    message = j["error"].get<std::string>();
  } else {
    message = response.body.substr(0, 1024);
  }
  if (message.empty()) message = "HTTP status " + std::to_string(response.status);
  return {code_for(response.status), message};
}

::grpc::Status parse_json(const http::Response& response, json* out) {
  *out = json::parse(response.body, nullptr, false);
  if (out->is_discarded()) return bad_reply("not JSON");
  return ::grpc::Status::OK;
}

::grpc::Status to_server_metadata(const json& j, inference::ServerMetadataResponse* out) {
  std::string name, version;
  std::vector<std::string> extensions;
  if (!j.is_object() || !read(j, "name", &name) || !read(j, "version", &version) || !read(j, "extensions", &extensions))
    return bad_reply("server metadata");
  out->set_name(name);
  out->set_version(version);
  for (auto& e : extensions) out->add_extensions(e);
  return ::grpc::Status::OK;
}

::grpc::Status to_model_metadata(const json& j, inference::ModelMetadataResponse* out) {
  std::string name, platform;
  std::vector<std::string> versions;
  if (!j.is_object() || !read(j, "name", &name) || !read(j, "platform", &platform) || !read(j, "versions", &versions))
    return bad_reply("model metadata");
  out->set_name(name);
  out->set_platform(platform);
  for (auto& v : versions) out->add_versions(v);
  if (!fill_tensors(j.value("inputs", json::array()), out->mutable_inputs()) ||
      !fill_tensors(j.value("outputs", json::array()), out->mutable_outputs()))
    return bad_reply("model metadata tensors");
  return ::grpc::Status::OK;
}

::grpc::Status to_statistics(const json& j, inference::ModelStatisticsResponse* out) {
  if (!j.is_object() || !j.contains("model_stats") || !j["model_stats"].is_array()) return bad_reply("statistics");
  for (const auto& m : j["model_stats"]) {
    if (!m.is_object()) return bad_reply("statistics entry");
    auto* s = out->add_model_stats();
    std::string name, version;
    uint64_t last = 0, inferences = 0, executions = 0;
    if (!read(m, "name", &name) || !read(m, "version", &version) || !read(m, "last_inference", &last) ||
        !read(m, "inference_count", &inferences) || !read(m, "execution_count", &executions))
      return bad_reply("statistics entry");
    s->set_name(name);
    s->set_version(version);
    s->set_last_inference(last);
    s->set_inference_count(inferences);
    s->set_execution_count(executions);
    const json stats = m.value("inference_stats", json::object());
    auto* is = s->mutable_inference_stats();
    if (!fill_duration(stats, "success", is->mutable_success()) || !fill_duration(stats, "fail", is->mutable_fail()) ||
        !fill_duration(stats, "queue", is->mutable_queue()) ||
        !fill_duration(stats, "compute_input", is->mutable_compute_input()) ||
        !fill_duration(stats, "compute_infer", is->mutable_compute_infer()) ||
        !fill_duration(stats, "compute_output", is->mutable_compute_output()) ||
        !fill_duration(stats, "cache_hit", is->mutable_cache_hit()) ||
        !fill_duration(stats, "cache_miss", is->mutable_cache_miss()))
      return bad_reply("statistics durations");
  }
  return ::grpc::Status::OK;
}

::grpc::Status to_index(const json& j, inference::RepositoryIndexResponse* out) {
  if (!j.is_array()) return bad_reply("repository index");
  for (const auto& m : j) {
    std::string name, version, state, reason;
    if (!m.is_object() || !read(m, "name", &name) || !read(m, "version", &version) || !read(m, "state", &state) ||
        !read(m, "reason", &reason))
      return bad_reply("repository index entry");
    auto* e = out->add_models();
    e->set_name(name);
    e->set_version(version);
    e->set_state(state);
    e->set_reason(reason);
  }
  return ::grpc::Status::OK;
}

::grpc::Status to_model_config(const std::string& body, inference::ModelConfig* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto s = google::protobuf::util::JsonStringToMessage(body, out, options);
  if (!s.ok()) return bad_reply("model config: " + std::string(s.message()));
  return ::grpc::Status::OK;
}

std::string load_body(const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters) {
  json p = json::object();
  for (const auto& [key, v] : parameters) {
    switch (v.parameter_choice_case()) {
      case inference::ModelRepositoryParameter::kBoolParam: p[key] = v.bool_param(); break;
      case inference::ModelRepositoryParameter::kInt64Param: p[key] = v.int64_param(); break;
      case inference::ModelRepositoryParameter::kStringParam: p[key] = v.string_param(); break;
      case inference::ModelRepositoryParameter::kBytesParam: p[key] = base64(v.bytes_param()); break;
      default: p[key] = nullptr; break;
    }
  }
  if (p.empty()) return "{}";
  return json{{"parameters", p}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace thaw::grpc_front
