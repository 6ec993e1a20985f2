#include "engine/onnx/pack_onnx.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "bundle/format.h"
#include "engine/onnx/bundle_files.h"
#include "engine/onnx/onnx_dtype.h"

namespace thaw::engine {

namespace {

namespace fs = std::filesystem;
using bundle::kMaxDataLength;
using bundle::MappedFile;
using bundle::PackedModel;
using bundle::WarmupRequest;
using nlohmann::json;

std::string type_name(int onnx_type) {
  if (auto d = dtype_from_onnx(onnx_type)) return std::string(dtype_name(*d));
  if (onnx_type == onnx::TensorProto::STRING) return "BYTES";
  return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(onnx_type));
}

// Packs `values` (a repeated field) as `elem`-byte little-endian items: each value is truncated to
// its low `elem` bytes, which is how ONNX stores INT8..UINT16, BOOL and FLOAT16/BFLOAT16 bit
// patterns in int32_data and UINT32 in uint64_data.
template <typename Field>
std::string pack_values(const Field& values, size_t elem) {
  std::string out(static_cast<size_t>(values.size()) * elem, '\0');
  for (int i = 0; i < values.size(); ++i) {
    auto v = values.Get(i);
    std::memcpy(out.data() + static_cast<size_t>(i) * elem, &v, elem);  // little-endian host
  }
  return out;
}

// Bytes of an initializer stored in the typed repeated fields; `count` is the element count.
Result<std::string> typed_bytes(const onnx::TensorProto& t, DType dtype, uint64_t count) {
  const size_t elem = dtype_size(dtype);
  std::string bytes;
  int n = 0;
  const char* field = "";
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: n = t.float_data_size(); field = "float_data"; bytes = pack_values(t.float_data(), elem); break;
    case onnx::TensorProto::DOUBLE: n = t.double_data_size(); field = "double_data"; bytes = pack_values(t.double_data(), elem); break;
    case onnx::TensorProto::INT64: n = t.int64_data_size(); field = "int64_data"; bytes = pack_values(t.int64_data(), elem); break;
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64: n = t.uint64_data_size(); field = "uint64_data"; bytes = pack_values(t.uint64_data(), elem); break;
    default: n = t.int32_data_size(); field = "int32_data"; bytes = pack_values(t.int32_data(), elem); break;
  }
  if (static_cast<uint64_t>(n) != count)
    return make_error(Code::kInvalidArgument, "initializer '{}': {} has {} values, its shape needs {}", t.name(), field, n,
                      count);
  return bytes;
}

// A path from external_data.location, which must stay inside the model's directory.
Result<std::string> external_path(const fs::path& dir, const std::string& location, const std::string& tensor) {
  fs::path p(location);
  if (location.empty() || p.is_absolute())
    return make_error(Code::kInvalidArgument, "initializer '{}': external data location '{}' must be a relative path",
                      tensor, location);
  for (const auto& part : p)
    if (part == "..")
      return make_error(Code::kInvalidArgument, "initializer '{}': external data location '{}' leaves the model directory",
                        tensor, location);
  return (dir / p).string();
}

Result<uint64_t> parse_u64(const std::string& s, const std::string& tensor, std::string_view key) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 19) return make_error(Code::kInvalidArgument, "initializer '{}': external data {} '{}' is not a number", tensor, key, s);
  for (char c : s) {
    if (c < '0' || c > '9') return make_error(Code::kInvalidArgument, "initializer '{}': external data {} '{}' is not a number", tensor, key, s);
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Input/output signature: KServe dtype names, -1 for dynamic dims.
json value_info_json(const onnx::ValueInfoProto& v) {
  json j = {{"name", v.name()}};
  const auto& type = v.type();
  if (type.has_tensor_type()) {
    j["dtype"] = type_name(type.tensor_type().elem_type());
    json shape = json::array();
    if (type.tensor_type().has_shape())
      for (const auto& d : type.tensor_type().shape().dim())
        shape.push_back(d.has_dim_value() ? d.dim_value() : int64_t{-1});
    j["shape"] = shape;
  } else {
    j["dtype"] = "UNKNOWN";
    j["shape"] = json::array();
  }
  return j;
}

// The default warm-up request for BERT-like graphs: batch 1, 16 tokens [CLS] w... [SEP], mask 1,
// token types 0. Fixed dims in the graph's signature win over these sizes.
void add_bert_warmup(const json& inputs, PackedModel* model) {
  std::map<std::string, json> by_name;
  for (const auto& in : inputs) by_name[in["name"].get<std::string>()] = in;
  if (!by_name.count("input_ids") || !by_name.count("attention_mask")) return;
  for (const auto& [name, in] : by_name) {
    if (name != "input_ids" && name != "attention_mask" && name != "token_type_ids") return;  // other inputs: unknown
    if (in["shape"].size() != 2 || (in["dtype"] != "INT64" && in["dtype"] != "INT32")) return;
  }
  WarmupRequest req;
  for (const char* name : {"input_ids", "attention_mask", "token_type_ids"}) {
    if (!by_name.count(name)) continue;
    const json& in = by_name[name];
    int64_t batch = in["shape"][0].get<int64_t>() > 0 ? in["shape"][0].get<int64_t>() : 1;
    int64_t seq = in["shape"][1].get<int64_t>() > 0 ? in["shape"][1].get<int64_t>() : 16;
    if (batch > 64 || seq > 4096) return;
    const DType dtype = in["dtype"] == "INT64" ? DType::kI64 : DType::kI32;
    std::string bytes;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t s = 0; s < seq; ++s) {
        int64_t v = 0;
        if (std::string_view(name) == "input_ids") v = s == 0 ? 101 : s == seq - 1 ? 102 : 1000 + 37 * s;
        else if (std::string_view(name) == "attention_mask") v = 1;
        if (dtype == DType::kI64) bytes.append(reinterpret_cast<const char*>(&v), 8);
        else {
          int32_t v32 = static_cast<int32_t>(v);
          bytes.append(reinterpret_cast<const char*>(&v32), 4);
        }
      }
    std::string file = fmt::format("warmup/{}/{}", model->contents.warmup.size(), name);
    model->contents.files.push_back({file, std::move(bytes)});
    req.inputs.push_back({name, dtype, {batch, seq}, file});
  }
  model->contents.warmup.push_back(std::move(req));
}

Result<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fs::exists(path) ? Code::kIo : Code::kNotFound, "cannot read {}", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

}  // namespace

Result<std::unique_ptr<PackedModel>> pack_onnx(const std::string& path) {
  THAW_ASSIGN_OR_RETURN(std::string serialized, read_whole(path));
  if (serialized.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return make_error(Code::kUnsupported, "{} is over 2 GiB; export it with external data", path);
  onnx::ModelProto proto;
  if (!proto.ParseFromString(serialized))
    return make_error(Code::kInvalidArgument, "{} is not a valid ONNX model (protobuf parse failed)", path);
  std::string().swap(serialized);
  if (!proto.has_graph()) return make_error(Code::kInvalidArgument, "{}: the ONNX model has no graph", path);
  onnx::GraphProto* graph = proto.mutable_graph();
  if (graph->sparse_initializer_size() > 0)
    return make_error(Code::kUnsupported, "{}: sparse initializers are not supported", path);

  auto model = std::make_unique<PackedModel>();
  model->contents.backend = "onnx";
  model->contents.name = fs::path(path).stem().string();
  const fs::path dir = fs::path(path).parent_path();
  std::map<std::string, size_t> mapped;  // external file path -> index in model->mappings
  std::vector<int> packed_index;         // initializer index of each bundle tensor
  std::unordered_set<std::string> names;

  for (int i = 0; i < graph->initializer_size(); ++i) {
    onnx::TensorProto* t = graph->mutable_initializer(i);
    const std::string& name = t->name();
    if (name.empty()) return make_error(Code::kInvalidArgument, "{}: initializer {} has no name", path, i);
    if (!names.insert(name).second) return make_error(Code::kInvalidArgument, "{}: two initializers are named '{}'", path, name);
    auto dtype = dtype_from_onnx(t->data_type());
    if (!dtype)
      return make_error(Code::kUnsupported, "{}: initializer '{}' has type {}, which bundles do not store", path, name,
                        type_name(t->data_type()));
    std::vector<int64_t> shape(t->dims().begin(), t->dims().end());
    uint64_t count = 1;
    for (int64_t d : shape) {
      if (d < 0 || (d > 0 && count > kMaxDataLength / static_cast<uint64_t>(d)))
        return make_error(Code::kInvalidArgument, "{}: initializer '{}' has a bad dimension {}", path, name, d);
      count *= static_cast<uint64_t>(d);
    }
    const uint64_t bytes = count * dtype_size(*dtype);
    if (bytes == 0) continue;  // empty tensors stay inline in the graph
    std::span<const std::byte> data;
    if (t->data_location() == onnx::TensorProto::EXTERNAL) {
      std::string location;
      uint64_t offset = 0, length = bytes;
      for (const auto& kv : t->external_data()) {
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") { THAW_ASSIGN_OR_RETURN(offset, parse_u64(kv.value(), name, "offset")); }
        else if (kv.key() == "length") { THAW_ASSIGN_OR_RETURN(length, parse_u64(kv.value(), name, "length")); }
      }
      THAW_ASSIGN_OR_RETURN(std::string file, external_path(dir, location, name));
      auto it = mapped.find(file);
      if (it == mapped.end()) {
        auto m = MappedFile::open(file);
        if (!m.is_ok()) return m.status().with_context(fmt::format("{}: initializer '{}'", path, name));
        model->mappings.push_back(std::move(m).value());
        it = mapped.emplace(file, model->mappings.size() - 1).first;
      }
      std::span<const std::byte> whole = model->mappings[it->second].bytes();
      if (length != bytes)
        return make_error(Code::kInvalidArgument, "{}: initializer '{}': external length {} but {} x its shape needs {}",
                          path, name, length, dtype_name(*dtype), bytes);
      if (offset > whole.size() || length > whole.size() - offset)
        return make_error(Code::kInvalidArgument, "{}: initializer '{}': external data [{}, +{}) is past the end of {} ({} bytes)",
                          path, name, offset, length, file, whole.size());
      data = whole.subspan(offset, length);
    } else if (t->has_raw_data()) {
      if (t->raw_data().size() != bytes)
        return make_error(Code::kInvalidArgument, "{}: initializer '{}' has {} raw bytes, {} x its shape needs {}", path,
                          name, t->raw_data().size(), dtype_name(*dtype), bytes);
      data = model->own(std::move(*t->mutable_raw_data()));
    } else {
      auto typed = typed_bytes(*t, *dtype, count);
      if (!typed.is_ok()) return typed.status().with_context(path);
      data = model->own(std::move(typed).value());
    }
    model->contents.tensors.push_back({name, *dtype, std::move(shape), data});
    packed_index.push_back(i);
  }

  // Point every packed initializer at its place in the data section.
  const std::vector<uint64_t> offsets = bundle::plan_tensor_offsets(model->contents.tensors);
  for (size_t k = 0; k < packed_index.size(); ++k) {
    onnx::TensorProto* t = graph->mutable_initializer(packed_index[k]);
    t->clear_raw_data();
    t->clear_float_data();
    t->clear_int32_data();
    t->clear_int64_data();
    t->clear_double_data();
    t->clear_uint64_data();
    t->clear_string_data();
    t->clear_external_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* e = t->add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    add("location", std::string(kDataFileName));
    add("offset", std::to_string(offsets[k]));
    add("length", std::to_string(model->contents.tensors[k].data.size()));
  }

  json inputs = json::array(), outputs = json::array();
  std::unordered_set<std::string> initializer_names;
  for (const auto& t : graph->initializer()) {
    initializer_names.insert(t.name());
    // A transformer's position table ([positions, hidden]) bounds its token sequences: recorded so
    // the worker refuses a longer sequence with 400 instead of failing inside the run.
    if (t.name().find("position_embeddings") != std::string::npos && t.dims_size() == 2 && t.dims(0) > 0)
      model->contents.metadata["max_positions"] = t.dims(0);
  }
  for (const auto& v : graph->input())
    if (!initializer_names.count(v.name())) inputs.push_back(value_info_json(v));
  for (const auto& v : graph->output()) outputs.push_back(value_info_json(v));
  model->contents.metadata["signature"] = {{"inputs", inputs}, {"outputs", outputs}};
  model->contents.metadata["onnx"] = {{"ir_version", proto.ir_version()}, {"producer", proto.producer_name()}};

  std::string graph_bytes;
  if (!proto.SerializeToString(&graph_bytes))
    return make_error(Code::kInternal, "{}: serializing the weightless graph failed", path);
  model->contents.files.push_back({std::string(kOnnxGraphFile), std::move(graph_bytes)});
  add_bert_warmup(inputs, model.get());
  return model;
}

}  // namespace thaw::engine
