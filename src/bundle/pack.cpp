#include "bundle/pack.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bundle/format.h"

namespace thaw::bundle {

using nlohmann::json;

namespace {

// Appends `v` as a little-endian value of `dtype` to `out`; false if it does not fit the type.
bool append_value(const json& v, DType dtype, std::string* out) {
  auto put = [&](auto x) { out->append(reinterpret_cast<const char*>(&x), sizeof(x)); };
  switch (dtype) {
    case DType::kF32: if (!v.is_number()) return false; put(v.get<float>()); return true;
    case DType::kF64: if (!v.is_number()) return false; put(v.get<double>()); return true;
    case DType::kBool:
      if (v.is_boolean()) put(static_cast<uint8_t>(v.get<bool>()));
      else if (v.is_number_integer()) put(static_cast<uint8_t>(v.get<int64_t>() != 0));
      else return false;
      return true;
    default: break;
  }
  if (!v.is_number_integer()) return false;
  const int64_t i = v.get<int64_t>();
  switch (dtype) {
    case DType::kI8: if (i < INT8_MIN || i > INT8_MAX) return false; put(static_cast<int8_t>(i)); return true;
    case DType::kU8: if (i < 0 || i > UINT8_MAX) return false; put(static_cast<uint8_t>(i)); return true;
    case DType::kI16: if (i < INT16_MIN || i > INT16_MAX) return false; put(static_cast<int16_t>(i)); return true;
    case DType::kU16: if (i < 0 || i > UINT16_MAX) return false; put(static_cast<uint16_t>(i)); return true;
    case DType::kI32: if (i < INT32_MIN || i > INT32_MAX) return false; put(static_cast<int32_t>(i)); return true;
    case DType::kU32: if (i < 0 || i > static_cast<int64_t>(UINT32_MAX)) return false; put(static_cast<uint32_t>(i)); return true;
    case DType::kI64: put(i); return true;
    case DType::kU64: if (i < 0) return false; put(static_cast<uint64_t>(i)); return true;
    default: return false;  // FP16/BF16 values are not accepted as JSON numbers
  }
}

Status add_request(const json& req, size_t index, PackedModel* model) {
  if (!req.is_object() || req.empty())
    return make_error(Code::kInvalidArgument, "warm-up request {} is not a non-empty object of inputs", index);
  WarmupRequest out;
  for (auto it = req.begin(); it != req.end(); ++it) {
    const std::string& name = it.key();
    const json& in = *it;
    auto fail = [&](std::string_view why) {
      return make_error(Code::kInvalidArgument, "warm-up request {} input '{}': {}", index, name, why);
    };
    if (!in.is_object() || !in.contains("dtype") || !in.contains("shape") || !in.contains("data"))
      return fail("needs {\"dtype\", \"shape\", \"data\"}");
    if (!in["dtype"].is_string()) return fail("dtype is not a string");
    auto dtype = dtype_from_name(in["dtype"].get<std::string>());
    if (!dtype || *dtype == DType::kF16 || *dtype == DType::kBF16) return fail("dtype is not a supported KServe name");
    if (!in["shape"].is_array() || in["shape"].size() > kMaxRank) return fail("shape is not an array");
    std::vector<int64_t> shape;
    uint64_t count = 1;
    for (const auto& d : in["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (1u << 30)) return fail("shape dims must be integers in [0, 2^30]");
      shape.push_back(d.get<int64_t>());
      count *= d.get<uint64_t>();
      if (count > (1u << 30)) return fail("too many elements");
    }
    if (!in["data"].is_array() || in["data"].size() != count)
      return fail(fmt::format("data must be a flat array of {} values", count));
    std::string bytes;
    for (const auto& v : in["data"])
      if (!append_value(v, *dtype, &bytes)) return fail(fmt::format("value {} does not fit {}", v.dump(), dtype_name(*dtype)));
    std::string file = fmt::format("warmup/{}/{}", model->contents.warmup.size(), name);
    model->contents.files.push_back({file, std::move(bytes)});
    out.inputs.push_back({name, *dtype, std::move(shape), std::move(file)});
  }
  model->contents.warmup.push_back(std::move(out));
  return Status::ok();
}

}  // namespace

Status add_warmup_json(const std::string& text, PackedModel* model) {
  if (!json_depth_ok(text, kMaxJsonDepth)) return make_error(Code::kInvalidArgument, "warm-up JSON nests too deeply");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(Code::kInvalidArgument, "warm-up file is not valid JSON");
  try {
    if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) THAW_TRY(add_request(j[i], i, model));
      return Status::ok();
    }
    return add_request(j, 0, model);
  } catch (const json::exception& e) {
    return make_error(Code::kInvalidArgument, "warm-up JSON: {}", e.what());
  }
}

namespace {

Status add_named_file(const std::string& path, std::string name, PackedModel* model) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Code::kNotFound, "cannot read extra file {}", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return make_error(Code::kIo, "reading {} failed", path);
  for (const auto& f : model->contents.files)
    if (f.name == name) return make_error(Code::kInvalidArgument, "two files named '{}' (extra files are stored by basename)", name);
  model->contents.files.push_back({std::move(name), std::move(ss).str()});
  return Status::ok();
}

}  // namespace

Status add_extra_file(const std::string& path, PackedModel* model) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return add_named_file(path, fs::path(path).filename().string(), model);
  // A folder: every regular file under it, named "<folder>/<relative path>", in name order so the
  // same folder packs to the same bytes.
  const fs::path root = fs::path(path).lexically_normal();
  const fs::path base = root.has_filename() ? root.filename() : root.parent_path().filename();
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) found.push_back(it->path());
  if (ec) return make_error(Code::kIo, "listing extra folder {}: {}", path, ec.message());
  std::sort(found.begin(), found.end());
  for (const auto& f : found)
    THAW_TRY(add_named_file(f.string(), (base / f.lexically_relative(root)).generic_string(), model));
  return Status::ok();
}

}  // namespace thaw::bundle
