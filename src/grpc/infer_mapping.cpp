#include "grpc/infer_mapping.h"

#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>

#include "grpc/rest_mapping.h"

namespace thaw::grpc_front {
namespace {

using json = nlohmann::json;
using ::grpc::Status;
using ::grpc::StatusCode;

Status invalid(std::string message) { return {StatusCode::INVALID_ARGUMENT, std::move(message)}; }
Status bad_reply(std::string_view what) {
  return {StatusCode::INTERNAL, "the server's answer was malformed: " + std::string(what)};
}

template <class To, class From>
void append_as(std::string* out, const google::protobuf::RepeatedField<From>& values) {
  const size_t at = out->size();
  out->resize(at + values.size() * sizeof(To));
  char* p = out->data() + at;
  for (From v : values) {
    To x = static_cast<To>(v);
    std::memcpy(p, &x, sizeof(To));
    p += sizeof(To);
  }
}

void append_length_prefixed(std::string* out, std::string_view element) {
  const uint32_t n = static_cast<uint32_t>(element.size());
  char len[4];
  std::memcpy(len, &n, 4);  // little-endian hosts only, as the raw form itself assumes
  out->append(len, 4);
  out->append(element);
}

// The raw bytes of an input given in typed contents.
Status raw_from_contents(const inference::ModelInferRequest::InferInputTensor& t, std::string* out) {
  const auto& c = t.contents();
  const std::string& d = t.datatype();
  auto wrong = [&](const char* field) {
    return invalid("input '" + t.name() + "' has datatype " + d + "; its values go in " + field);
  };
  // Values in a field other than the datatype's are a client error, not silently dropped.
  const size_t others = c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() +
                        c.uint_contents_size() + c.uint64_contents_size() + c.fp32_contents_size() +
                        c.fp64_contents_size() + c.bytes_contents_size();
  if (d == "BOOL") {
    if (static_cast<size_t>(c.bool_contents_size()) != others) return wrong("bool_contents");
    append_as<uint8_t>(out, c.bool_contents());
  } else if (d == "INT8" || d == "INT16" || d == "INT32") {
    if (static_cast<size_t>(c.int_contents_size()) != others) return wrong("int_contents");
    if (d == "INT8") append_as<int8_t>(out, c.int_contents());
    else if (d == "INT16") append_as<int16_t>(out, c.int_contents());
    else append_as<int32_t>(out, c.int_contents());
  } else if (d == "INT64") {
    if (static_cast<size_t>(c.int64_contents_size()) != others) return wrong("int64_contents");
    append_as<int64_t>(out, c.int64_contents());
  } else if (d == "UINT8" || d == "UINT16" || d == "UINT32") {
    if (static_cast<size_t>(c.uint_contents_size()) != others) return wrong("uint_contents");
    if (d == "UINT8") append_as<uint8_t>(out, c.uint_contents());
    else if (d == "UINT16") append_as<uint16_t>(out, c.uint_contents());
    else append_as<uint32_t>(out, c.uint_contents());
  } else if (d == "UINT64") {
    if (static_cast<size_t>(c.uint64_contents_size()) != others) return wrong("uint64_contents");
    append_as<uint64_t>(out, c.uint64_contents());
  } else if (d == "FP32") {
    if (static_cast<size_t>(c.fp32_contents_size()) != others) return wrong("fp32_contents");
    append_as<float>(out, c.fp32_contents());
  } else if (d == "FP64") {
    if (static_cast<size_t>(c.fp64_contents_size()) != others) return wrong("fp64_contents");
    append_as<double>(out, c.fp64_contents());
  } else if (d == "BYTES") {
    if (static_cast<size_t>(c.bytes_contents_size()) != others) return wrong("bytes_contents");
    for (const auto& e : c.bytes_contents()) append_length_prefixed(out, e);
  } else if (others > 0) {
    return invalid("input '" + t.name() + "' has datatype " + d +
                   ", which has no typed contents field; send it in raw_input_contents");
  }
  return Status::OK;
}

json parameter_value(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam: return p.bool_param();
    case inference::InferParameter::kInt64Param: return p.int64_param();
    case inference::InferParameter::kStringParam: return p.string_param();
    case inference::InferParameter::kDoubleParam: return p.double_param();
    case inference::InferParameter::kUint64Param: return p.uint64_param();
    default: return nullptr;
  }
}

json parameters_json(const google::protobuf::Map<std::string, inference::InferParameter>& in) {
  json out = json::object();
  for (const auto& [key, value] : in) out[key] = parameter_value(value);
  return out;
}

// JSON parameters back to the map, skipping the binary extension's own keys.
bool fill_parameters(const json& in, google::protobuf::Map<std::string, inference::InferParameter>* out) {
  if (in.is_null()) return true;
  if (!in.is_object()) return false;
  for (const auto& [key, v] : in.items()) {
    if (key == "binary_data_size" || key == "binary_data") continue;
    inference::InferParameter p;
    if (v.is_boolean()) p.set_bool_param(v.get<bool>());
    else if (v.is_number_unsigned()) p.set_uint64_param(v.get<uint64_t>());
    else if (v.is_number_integer()) p.set_int64_param(v.get<int64_t>());
    else if (v.is_number_float()) p.set_double_param(v.get<double>());
    else if (v.is_string()) p.set_string_param(v.get<std::string>());
    else continue;  // no gRPC form for arrays or objects
    (*out)[key] = p;
  }
  return true;
}

// A JSON "data" array (flat or nested) as raw bytes of `datatype`.
bool raw_from_json(const json& data, const std::string& datatype, std::string* out) {
  if (data.is_array()) {
    for (const auto& v : data)
      if (!raw_from_json(v, datatype, out)) return false;
    return true;
  }
  try {
    auto put = [out](auto x) { out->append(reinterpret_cast<const char*>(&x), sizeof(x)); };
    if (datatype == "BYTES") {
      if (!data.is_string()) return false;
      append_length_prefixed(out, data.get_ref<const std::string&>());
    } else if (datatype == "BOOL") put(static_cast<uint8_t>(data.get<bool>()));
    else if (datatype == "INT8") put(data.get<int8_t>());
    else if (datatype == "INT16") put(data.get<int16_t>());
    else if (datatype == "INT32") put(data.get<int32_t>());
    else if (datatype == "INT64") put(data.get<int64_t>());
    else if (datatype == "UINT8") put(data.get<uint8_t>());
    else if (datatype == "UINT16") put(data.get<uint16_t>());
    else if (datatype == "UINT32") put(data.get<uint32_t>());
    else if (datatype == "UINT64") put(data.get<uint64_t>());
    else if (datatype == "FP32") put(data.get<float>());
    else if (datatype == "FP64") put(data.get<double>());
    else return false;
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

}  // namespace

Status to_rest_infer(const inference::ModelInferRequest& in, http::Request* out) {
  const bool raw = in.raw_input_contents_size() > 0;
  if (raw && in.raw_input_contents_size() != in.inputs_size())
    return invalid("raw_input_contents has " + std::to_string(in.raw_input_contents_size()) + " entries for " +
                   std::to_string(in.inputs_size()) + " inputs; send one per input, in order, or none");
  json header = json::object();
  if (!in.id().empty()) header["id"] = in.id();
  json params = parameters_json(in.parameters());
  // Outputs come back raw unless the client asked otherwise for one.
  if (!params.contains("binary_data_output")) params["binary_data_output"] = true;
  header["parameters"] = std::move(params);

  std::string tensors;
  json inputs = json::array();
  for (int i = 0; i < in.inputs_size(); ++i) {
    const auto& t = in.inputs(i);
    if (raw && t.has_contents())
      return invalid("input '" + t.name() + "' has both contents and raw_input_contents; send one form");
    const size_t before = tensors.size();
    if (raw) {
      tensors += in.raw_input_contents(i);
    } else if (Status s = raw_from_contents(t, &tensors); !s.ok()) {
      return s;
    }
    json p = parameters_json(t.parameters());
    p["binary_data_size"] = tensors.size() - before;
    inputs.push_back({{"name", t.name()}, {"datatype", t.datatype()},
                      {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())}, {"parameters", p}});
  }
  header["inputs"] = std::move(inputs);
  if (in.outputs_size() > 0) {
    json outputs = json::array();
    for (const auto& o : in.outputs()) {
      json p = parameters_json(o.parameters());
      if (!p.contains("binary_data")) p["binary_data"] = true;
      outputs.push_back({{"name", o.name()}, {"parameters", p}});
    }
    header["outputs"] = std::move(outputs);
  }
  std::string head = header.dump(-1, ' ', false, json::error_handler_t::replace);
  *out = rest_post(model_path(in.model_name(), in.model_version()) + "/infer", "");
  out->headers = {{"Content-Type", "application/octet-stream"},
                  {"Inference-Header-Content-Length", std::to_string(head.size())}};
  out->body = std::move(head);
  out->body.reserve(out->body.size() + tensors.size());
  out->body += tensors;
  return Status::OK;
}

Status from_rest_infer(const http::Response& response, inference::ModelInferResponse* out) {
  std::string_view body = response.body;
  std::string_view head = body;
  size_t binary_at = body.size();
  if (auto v = http::find_header(response.headers, "Inference-Header-Content-Length")) {
    size_t n = 0;
    try {
      n = std::stoull(std::string(*v));
    } catch (...) {
      return bad_reply("Inference-Header-Content-Length");
    }
    if (n > body.size()) return bad_reply("Inference-Header-Content-Length past the body");
    head = body.substr(0, n);
    binary_at = n;
  }
  json j = json::parse(head, nullptr, false);
  if (!j.is_object()) return bad_reply("infer header is not a JSON object");
  try {
    out->set_model_name(j.value("model_name", ""));
    out->set_model_version(j.value("model_version", ""));
    out->set_id(j.value("id", ""));
    if (!fill_parameters(j.value("parameters", json()), out->mutable_parameters())) return bad_reply("parameters");
    const json outputs = j.value("outputs", json::array());
    if (!outputs.is_array()) return bad_reply("outputs");
    size_t at = binary_at;
    for (const auto& o : outputs) {
      auto* t = out->add_outputs();
      t->set_name(o.at("name").get<std::string>());
      t->set_datatype(o.at("datatype").get<std::string>());
      for (int64_t d : o.at("shape").get<std::vector<int64_t>>()) t->add_shape(d);
      const json p = o.value("parameters", json::object());
      if (!fill_parameters(p, t->mutable_parameters())) return bad_reply("output parameters");
      std::string* raw = out->add_raw_output_contents();
      if (p.is_object() && p.contains("binary_data_size")) {
        const uint64_t n = p["binary_data_size"].get<uint64_t>();
        if (n > body.size() - at) return bad_reply("binary output past the body");
        raw->assign(body.substr(at, n));
        at += n;
      } else if (!raw_from_json(o.value("data", json::array()), t->datatype(), raw)) {
        return bad_reply("output '" + t->name() + "' data");
      }
    }
  } catch (const json::exception& e) {
    return bad_reply(e.what());
  }
  return Status::OK;
}

}  // namespace thaw::grpc_front
