#include "worker/kserve_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace thaw::worker {
namespace {

using json = nlohmann::json;

constexpr int kMaxNesting = 32;

uint16_t float_to_half(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    if ((mant >> (shift - 1)) & 1u) ++half;  // round half up
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  if (mant & 0x1000u) ++half;  // round half up; carries into the exponent correctly
  return static_cast<uint16_t>(half);
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t float_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(x >> 16);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

template <typename T>
void put(std::vector<std::byte>& out, T v) {
  size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
Status put_integer(std::vector<std::byte>& out, const json& v, std::string_view tensor) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      return make_error(Code::kInvalidArgument, "input '{}': value {} is out of range", tensor, u);
    put<T>(out, static_cast<T>(u));
    return Status::ok();
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0)
        return make_error(Code::kInvalidArgument, "input '{}': value {} is out of range", tensor, i);
      if (static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        return make_error(Code::kInvalidArgument, "input '{}': value {} is out of range", tensor, i);
    } else {
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          i > static_cast<int64_t>(std::numeric_limits<T>::max()))
        return make_error(Code::kInvalidArgument, "input '{}': value {} is out of range", tensor, i);
    }
    put<T>(out, static_cast<T>(i));
    return Status::ok();
  }
  return make_error(Code::kInvalidArgument, "input '{}': expected an integer, got {}", tensor,
                    v.type_name());
}

// Appends one JSON scalar as `type` to the tensor being decoded.
Status append_scalar(WireTensor& t, const json& v) {
  if (t.type.bytes) {
    if (!v.is_string())
      return make_error(Code::kInvalidArgument, "input '{}': BYTES elements must be strings, got {}",
                        t.name, v.type_name());
    t.strings.push_back(v.get<std::string>());
    return Status::ok();
  }
  auto& out = t.owned;
  switch (t.type.dtype) {
    case DType::kBool:
      if (!v.is_boolean())
        return make_error(Code::kInvalidArgument, "input '{}': BOOL elements must be true/false, got {}",
                          t.name, v.type_name());
      put<uint8_t>(out, v.get<bool>() ? 1 : 0);
      return Status::ok();
    case DType::kI8: return put_integer<int8_t>(out, v, t.name);
    case DType::kU8: return put_integer<uint8_t>(out, v, t.name);
    case DType::kI16: return put_integer<int16_t>(out, v, t.name);
    case DType::kU16: return put_integer<uint16_t>(out, v, t.name);
    case DType::kI32: return put_integer<int32_t>(out, v, t.name);
    case DType::kU32: return put_integer<uint32_t>(out, v, t.name);
    case DType::kI64: return put_integer<int64_t>(out, v, t.name);
    case DType::kU64: return put_integer<uint64_t>(out, v, t.name);
    default: break;
  }
  if (!v.is_number())
    return make_error(Code::kInvalidArgument, "input '{}': expected a number, got {}", t.name,
                      v.type_name());
  double d = v.get<double>();
  switch (t.type.dtype) {
    case DType::kF32: put<float>(out, static_cast<float>(d)); break;
    case DType::kF64: put<double>(out, d); break;
    case DType::kF16: put<uint16_t>(out, float_to_half(static_cast<float>(d))); break;
    case DType::kBF16: put<uint16_t>(out, float_to_bf16(static_cast<float>(d))); break;
    default: return make_error(Code::kUnsupported, "input '{}': unsupported datatype", t.name);
  }
  return Status::ok();
}

// Flattens nested or flat "data" row-major, stopping as soon as more than `expected` values show up.
Status flatten(WireTensor& t, const json& v, int depth, int64_t expected, int64_t* seen) {
  if (depth > kMaxNesting)
    return make_error(Code::kInvalidArgument, "input '{}': data nested too deeply", t.name);
  if (v.is_array()) {
    for (const json& e : v) THAW_TRY(flatten(t, e, depth + 1, expected, seen));
    return Status::ok();
  }
  if (++*seen > expected)
    return make_error(Code::kInvalidArgument, "input '{}': data has more than the {} elements its shape says",
                      t.name, expected);
  return append_scalar(t, v);
}

std::string shape_string(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Splits a binary BYTES tensor: each element is a 4-byte little-endian length and its bytes.
Status split_binary_strings(WireTensor& t, std::span<const std::byte> raw, int64_t expected) {
  size_t at = 0;
  while (at < raw.size()) {
    if (raw.size() - at < 4)
      return make_error(Code::kInvalidArgument, "input '{}': truncated BYTES element length", t.name);
    uint32_t len = load<uint32_t>(raw.data() + at);
    at += 4;
    if (len > raw.size() - at)
      return make_error(Code::kInvalidArgument, "input '{}': BYTES element of {} bytes runs past its data",
                        t.name, len);
    if (static_cast<int64_t>(t.strings.size()) >= expected)
      return make_error(Code::kInvalidArgument, "input '{}': more BYTES elements than shape {} holds",
                        t.name, shape_string(t.shape));
    t.strings.emplace_back(reinterpret_cast<const char*>(raw.data() + at), len);
    at += len;
  }
  if (static_cast<int64_t>(t.strings.size()) != expected)
    return make_error(Code::kInvalidArgument, "input '{}': {} BYTES elements for shape {}", t.name,
                      t.strings.size(), shape_string(t.shape));
  return Status::ok();
}

Result<bool> binary_flag(const json& params, const char* key, std::string_view where) {
  if (!params.contains(key)) return false;
  const json& v = params[key];
  if (!v.is_boolean())
    return make_error(Code::kInvalidArgument, "{}: parameter '{}' must be a boolean", where, key);
  return v.get<bool>();
}

Result<const json*> parameters_of(const json& obj, std::string_view where) {
  if (!obj.contains("parameters")) return static_cast<const json*>(nullptr);
  const json& p = obj["parameters"];
  if (!p.is_object())
    return make_error(Code::kInvalidArgument, "{}: 'parameters' must be an object", where);
  return &p;
}

}  // namespace

std::optional<WireType> WireType::from_name(std::string_view name) {
  if (name == "BYTES") return WireType{true, DType::kU8};
  if (auto d = dtype_from_name(name)) return WireType{false, *d};
  return std::nullopt;
}

std::string_view WireType::name() const { return bytes ? "BYTES" : dtype_name(dtype); }

int64_t WireTensor::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<int64_t> checked_element_count(std::span<const int64_t> shape, uint64_t max_elements) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return make_error(Code::kInvalidArgument, "shape {} has a negative dimension", shape_string(shape));
    if (d != 0 && n > max_elements / static_cast<uint64_t>(d))
      return make_error(Code::kInvalidArgument, "shape {} has too many elements", shape_string(shape));
    n *= static_cast<uint64_t>(d);
  }
  if (n > max_elements)
    return make_error(Code::kInvalidArgument, "shape {} has too many elements", shape_string(shape));
  return static_cast<int64_t>(n);
}

Result<uint64_t> parse_header_length(std::string_view value) {
  uint64_t n = 0;
  if (value.empty() || value.size() > 19)
    return make_error(Code::kInvalidArgument, "bad Inference-Header-Content-Length '{}'", value);
  for (char c : value) {
    if (c < '0' || c > '9')
      return make_error(Code::kInvalidArgument, "bad Inference-Header-Content-Length '{}'", value);
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

Result<InferRequest> decode_infer_request(std::string_view body, std::optional<uint64_t> header_length,
                                          const DecodeLimits& limits) {
  std::string_view header = body;
  std::string_view binary;
  if (header_length) {
    if (*header_length > body.size())
      return make_error(Code::kInvalidArgument,
                        "Inference-Header-Content-Length {} is larger than the {}-byte body",
                        *header_length, body.size());
    header = body.substr(0, *header_length);
    binary = body.substr(*header_length);
  }
  THAW_ASSIGN_OR_RETURN(json doc, parse_json_bounded(header, limits.json));
  if (!doc.is_object()) return make_error(Code::kInvalidArgument, "request body must be a JSON object");

  InferRequest req;
  if (doc.contains("id")) {
    if (!doc["id"].is_string()) return make_error(Code::kInvalidArgument, "'id' must be a string");
    req.id = doc["id"].get<std::string>();
  }
  THAW_ASSIGN_OR_RETURN(const json* params, parameters_of(doc, "request"));
  if (params) {
    THAW_ASSIGN_OR_RETURN(req.binary_output_default, binary_flag(*params, "binary_data_output", "request"));
  }

  if (!doc.contains("inputs") || !doc["inputs"].is_array())
    return make_error(Code::kInvalidArgument, "request needs an 'inputs' array");
  const json& inputs = doc["inputs"];
  if (inputs.empty()) return make_error(Code::kInvalidArgument, "'inputs' is empty");
  if (inputs.size() > limits.max_inputs)
    return make_error(Code::kResourceExhausted, "{} inputs is more than max_inputs={}", inputs.size(),
                      limits.max_inputs);

  size_t binary_at = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const json& in = inputs[i];
    if (!in.is_object()) return make_error(Code::kInvalidArgument, "inputs[{}] must be an object", i);
    WireTensor t;
    if (!in.contains("name") || !in["name"].is_string())
      return make_error(Code::kInvalidArgument, "inputs[{}] needs a string 'name'", i);
    t.name = in["name"].get<std::string>();
    for (const WireTensor& prev : req.inputs)
      if (prev.name == t.name) return make_error(Code::kInvalidArgument, "input '{}' appears twice", t.name);
    if (!in.contains("datatype") || !in["datatype"].is_string())
      return make_error(Code::kInvalidArgument, "input '{}' needs a string 'datatype'", t.name);
    auto type = WireType::from_name(in["datatype"].get<std::string>());
    if (!type)
      return make_error(Code::kInvalidArgument, "input '{}': unknown datatype '{}'", t.name,
                        in["datatype"].get<std::string>());
    t.type = *type;
    if (!in.contains("shape") || !in["shape"].is_array())
      return make_error(Code::kInvalidArgument, "input '{}' needs a 'shape' array", t.name);
    if (in["shape"].size() > limits.max_rank)
      return make_error(Code::kInvalidArgument, "input '{}': rank {} is over the limit of {}", t.name,
                        in["shape"].size(), limits.max_rank);
    for (const json& d : in["shape"]) {
      if (!d.is_number_integer())
        return make_error(Code::kInvalidArgument, "input '{}': shape entries must be integers", t.name);
      t.shape.push_back(d.get<int64_t>());
    }
    auto count = checked_element_count(t.shape, limits.max_elements);
    if (!count.is_ok()) return count.status().with_context(fmt::format("input '{}'", t.name));
    int64_t expected = *count;

    THAW_ASSIGN_OR_RETURN(const json* in_params, parameters_of(in, fmt::format("input '{}'", t.name)));
    std::optional<uint64_t> binary_size;
    if (in_params) {
      if (in_params->contains("shared_memory_region"))
        return make_error(Code::kUnsupported, "input '{}': shared memory is not supported", t.name);
      if (in_params->contains("binary_data_size")) {
        const json& s = (*in_params)["binary_data_size"];
        if (!s.is_number_unsigned() && !(s.is_number_integer() && s.get<int64_t>() >= 0))
          return make_error(Code::kInvalidArgument, "input '{}': binary_data_size must be a non-negative integer",
                            t.name);
        binary_size = s.get<uint64_t>();
      }
    }

    if (binary_size) {
      if (!header_length)
        return make_error(Code::kInvalidArgument,
                          "input '{}' has binary_data_size but the request has no "
                          "Inference-Header-Content-Length header", t.name);
      if (in.contains("data"))
        return make_error(Code::kInvalidArgument, "input '{}' has both 'data' and binary_data_size", t.name);
      if (*binary_size > binary.size() - binary_at)
        return make_error(Code::kInvalidArgument, "input '{}': binary_data_size {} runs past the body",
                          t.name, *binary_size);
      auto raw = std::as_bytes(std::span(binary.data() + binary_at, *binary_size));
      binary_at += *binary_size;
      if (t.type.bytes) {
        THAW_TRY(split_binary_strings(t, raw, expected));
      } else {
        uint64_t want = static_cast<uint64_t>(expected) * dtype_size(t.type.dtype);
        if (raw.size() != want)
          return make_error(Code::kInvalidArgument,
                            "input '{}': {} binary bytes, but shape {} of {} needs {}", t.name,
                            raw.size(), shape_string(t.shape), t.type.name(), want);
        t.data = raw;
      }
    } else {
      if (!in.contains("data"))
        return make_error(Code::kInvalidArgument, "input '{}' has no 'data'", t.name);
      if (t.type.bytes) t.strings.reserve(static_cast<size_t>(std::min<int64_t>(expected, 1 << 16)));
      else t.owned.reserve(static_cast<size_t>(std::min<int64_t>(expected, 1 << 20)) * dtype_size(t.type.dtype));
      int64_t seen = 0;
      THAW_TRY(flatten(t, in["data"], 0, expected, &seen));
      if (seen != expected)
        return make_error(Code::kInvalidArgument, "input '{}': data has {} elements, shape {} needs {}",
                          t.name, seen, shape_string(t.shape), expected);
      t.data = t.owned;
    }
    req.inputs.push_back(std::move(t));
    // `data` may point into `owned`, which moved with the tensor: re-point it.
    WireTensor& stored = req.inputs.back();
    if (!binary_size && !stored.type.bytes) stored.data = stored.owned;
  }
  if (binary_at != binary.size())
    return make_error(Code::kInvalidArgument, "{} bytes after the last binary input are unaccounted for",
                      binary.size() - binary_at);

  if (doc.contains("outputs")) {
    const json& outs = doc["outputs"];
    if (!outs.is_array()) return make_error(Code::kInvalidArgument, "'outputs' must be an array");
    if (outs.size() > limits.max_outputs)
      return make_error(Code::kResourceExhausted, "{} outputs is more than max_outputs={}", outs.size(),
                        limits.max_outputs);
    for (size_t i = 0; i < outs.size(); ++i) {
      const json& o = outs[i];
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string())
        return make_error(Code::kInvalidArgument, "outputs[{}] needs a string 'name'", i);
      RequestedOutput r{o["name"].get<std::string>(), req.binary_output_default};
      THAW_ASSIGN_OR_RETURN(const json* op, parameters_of(o, fmt::format("output '{}'", r.name)));
      if (op) {
        if (op->contains("shared_memory_region"))
          return make_error(Code::kUnsupported, "output '{}': shared memory is not supported", r.name);
        if (op->contains("classification"))
          return make_error(Code::kUnsupported, "output '{}': classification is not supported", r.name);
        if (op->contains("binary_data")) {
          THAW_ASSIGN_OR_RETURN(r.binary, binary_flag(*op, "binary_data", fmt::format("output '{}'", r.name)));
        }
      }
      req.outputs.push_back(std::move(r));
    }
  }
  return req;
}

namespace {

json numeric_to_json(const OutputTensorView& t) {
  json arr = json::array();
  const std::byte* p = t.data.data();
  size_t size = dtype_size(t.type.dtype);
  size_t n = size ? t.data.size() / size : 0;
  auto& vec = arr.get_ref<json::array_t&>();
  vec.reserve(n);
  for (size_t i = 0; i < n; ++i, p += size) {
    switch (t.type.dtype) {
      case DType::kF32: vec.emplace_back(load<float>(p)); break;
      case DType::kF64: vec.emplace_back(load<double>(p)); break;
      case DType::kF16: vec.emplace_back(half_to_float(load<uint16_t>(p))); break;
      case DType::kBF16: vec.emplace_back(bf16_to_float(load<uint16_t>(p))); break;
      case DType::kI8: vec.emplace_back(load<int8_t>(p)); break;
      case DType::kU8: vec.emplace_back(load<uint8_t>(p)); break;
      case DType::kI16: vec.emplace_back(load<int16_t>(p)); break;
      case DType::kU16: vec.emplace_back(load<uint16_t>(p)); break;
      case DType::kI32: vec.emplace_back(load<int32_t>(p)); break;
      case DType::kU32: vec.emplace_back(load<uint32_t>(p)); break;
      case DType::kI64: vec.emplace_back(load<int64_t>(p)); break;
      case DType::kU64: vec.emplace_back(load<uint64_t>(p)); break;
      case DType::kBool: vec.emplace_back(load<uint8_t>(p) != 0); break;
    }
  }
  return arr;
}

}  // namespace

uint64_t encoded_size_bound(std::span<const OutputTensorView> outputs) {
  uint64_t n = 256;  // the envelope: model name, version, id
  for (const OutputTensorView& t : outputs) {
    n += 128 + t.name.size() + 21 * t.shape.size();
    if (t.type.bytes) {
      // Binary: a 4-byte length each; JSON: each byte escaped at worst (\u00XX), quotes, comma.
      for (const std::string& s : t.strings) n += t.binary ? 4 + s.size() : 3 + 6 * s.size();
    } else if (t.binary) {
      n += t.data.size();
    } else {
      // The longest JSON numbers: a double's "-2.2250738585072014e-308", a 64-bit integer, "false".
      const DType d = t.type.dtype;
      const bool floating = d == DType::kF32 || d == DType::kF64 || d == DType::kF16 || d == DType::kBF16;
      const uint64_t each = d == DType::kBool ? 6 : floating ? 25 : 21;
      const size_t size = dtype_size(d);
      n += (size ? t.data.size() / size : 0) * each;
    }
  }
  return n;
}

EncodedResponse encode_infer_response(std::string_view model_name, std::string_view model_version,
                                      std::string_view id, std::span<const OutputTensorView> outputs) {
  json doc = {{"model_name", model_name}, {"model_version", model_version}};
  if (!id.empty()) doc["id"] = id;
  json outs = json::array();
  std::string tail;
  for (const OutputTensorView& t : outputs) {
    json o = {{"name", t.name}, {"datatype", t.type.name()}, {"shape", t.shape}};
    if (t.binary) {
      size_t before = tail.size();
      if (t.type.bytes) {
        for (const std::string& s : t.strings) {
          uint32_t len = static_cast<uint32_t>(s.size());
          tail.append(reinterpret_cast<const char*>(&len), 4);
          tail.append(s);
        }
      } else {
        tail.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
      }
      o["parameters"] = {{"binary_data_size", tail.size() - before}};
    } else if (t.type.bytes) {
      o["data"] = json(std::vector<std::string>(t.strings.begin(), t.strings.end()));
    } else {
      o["data"] = numeric_to_json(t);
    }
    outs.push_back(std::move(o));
  }
  doc["outputs"] = std::move(outs);
  EncodedResponse r;
  r.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!tail.empty() || std::any_of(outputs.begin(), outputs.end(), [](auto& o) { return o.binary; })) {
    r.header_length = r.body.size();
    r.body += tail;
  }
  return r;
}

}  // namespace thaw::worker
