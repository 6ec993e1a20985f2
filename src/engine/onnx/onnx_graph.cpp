#include "engine/onnx/onnx_graph.h"

#include <charconv>
#include <limits>

#include <onnx/onnx_pb.h>

#include "engine/onnx/onnx_dtype.h"

namespace thaw::engine {
namespace {

Result<uint64_t> parse_u64(std::string_view tensor, std::string_view key, const std::string& text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return make_error(Code::kInvalidArgument, "initializer '{}': external_data {} '{}' is not a number",
                      tensor, key, text);
  }
  return v;
}

}  // namespace

Result<std::vector<ExternalInitializer>> list_external_initializers(std::string_view graph_bytes) {
  if (graph_bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return make_error(Code::kInvalidArgument, "graph of {} bytes is too large for protobuf",
                      graph_bytes.size());
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(graph_bytes.data(), static_cast<int>(graph_bytes.size()))) {
    return make_error(Code::kInvalidArgument, "graph is not a valid ONNX ModelProto");
  }
  std::vector<ExternalInitializer> out;
  for (const onnx::TensorProto& t : model.graph().initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    ExternalInitializer e;
    e.name = t.name();
    auto dtype = dtype_from_onnx(t.data_type());
    if (!dtype) {
      return make_error(Code::kUnsupported, "initializer '{}': element type {} is not supported",
                        t.name(), t.data_type());
    }
    e.dtype = *dtype;
    e.shape.assign(t.dims().begin(), t.dims().end());
    bool has_length = false;
    for (const onnx::StringStringEntryProto& kv : t.external_data()) {
      if (kv.key() == "location") {
        e.location = kv.value();
      } else if (kv.key() == "offset") {
        THAW_ASSIGN_OR_RETURN(e.offset, parse_u64(t.name(), "offset", kv.value()));
      } else if (kv.key() == "length") {
        THAW_ASSIGN_OR_RETURN(e.length, parse_u64(t.name(), "length", kv.value()));
        has_length = true;
      }
    }
    if (e.location.empty()) {
      return make_error(Code::kInvalidArgument, "initializer '{}': external_data has no location",
                        t.name());
    }
    if (!has_length) {
      return make_error(Code::kInvalidArgument, "initializer '{}': external_data has no length",
                        t.name());
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace thaw::engine
