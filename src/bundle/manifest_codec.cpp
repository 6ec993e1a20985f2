#include "bundle/manifest_codec.h"

#include <zstd.h>

#include <algorithm>
#include <unordered_set>

#include "bundle/hash.h"

namespace thaw::bundle {

using nlohmann::json;

namespace {

std::string_view compression_name(Compression c) { return c == Compression::kZstd ? "zstd" : "none"; }

json shape_json(const std::vector<int64_t>& shape) {
  json a = json::array();
  for (int64_t d : shape) a.push_back(d);
  return a;
}

// Rejects nesting deeper than kMaxJsonDepth before the recursive parts of a JSON library see it.
bool json_depth_ok(std::string_view text) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Typed field access with errors that name the field ("tensors[3].offset").
class Fields {
 public:
  Fields(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  const std::string& where() const { return where_; }

  Result<const json*> get(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return make_error(Code::kCorrupt, "manifest: {} has no field '{}'", where_, key);
    return &*it;
  }
  Result<std::string> str(std::string_view key, bool allow_empty = true) const {
    THAW_ASSIGN_OR_RETURN(const json* v, get(key));
    if (!v->is_string()) return make_error(Code::kCorrupt, "manifest: {}.{} is not a string", where_, key);
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxNameBytes)
      return make_error(Code::kCorrupt, "manifest: {}.{} is {} bytes long, over the limit of {}", where_, key,
                        s.size(), kMaxNameBytes);
    if (!allow_empty && s.empty()) return make_error(Code::kCorrupt, "manifest: {}.{} is empty", where_, key);
    return s;
  }
  Result<uint64_t> u64(std::string_view key) const {
    THAW_ASSIGN_OR_RETURN(const json* v, get(key));
    if (!v->is_number_unsigned())
      return make_error(Code::kCorrupt, "manifest: {}.{} is not a non-negative integer", where_, key);
    return v->get<uint64_t>();
  }
  Result<bool> boolean(std::string_view key) const {
    THAW_ASSIGN_OR_RETURN(const json* v, get(key));
    if (!v->is_boolean()) return make_error(Code::kCorrupt, "manifest: {}.{} is not a boolean", where_, key);
    return v->get<bool>();
  }
  Result<uint64_t> checksum(std::string_view key) const {
    THAW_ASSIGN_OR_RETURN(std::string s, str(key));
    auto v = parse_checksum_hex(s);
    if (!v) return make_error(Code::kCorrupt, "manifest: {}.{} is not 16 lowercase hex digits", where_, key);
    return *v;
  }
  Result<const json*> array(std::string_view key, size_t max_count) const {
    THAW_ASSIGN_OR_RETURN(const json* v, get(key));
    if (!v->is_array()) return make_error(Code::kCorrupt, "manifest: {}.{} is not an array", where_, key);
    if (v->size() > max_count)
      return make_error(Code::kCorrupt, "manifest: {}.{} has {} entries, over the limit of {}", where_, key, v->size(),
                        max_count);
    return v;
  }
  Result<DType> dtype(std::string_view key) const {
    THAW_ASSIGN_OR_RETURN(std::string s, str(key));
    auto d = dtype_from_name(s);
    if (!d) return make_error(Code::kCorrupt, "manifest: {}.{} '{}' is not a known dtype", where_, key, s);
    return *d;
  }
  // A shape of non-negative dims whose element count times `elem` fits in 64 bits; returns bytes.
  Result<uint64_t> shape(std::string_view key, size_t elem, std::vector<int64_t>* out) const {
    THAW_ASSIGN_OR_RETURN(const json* a, array(key, kMaxRank));
    uint64_t bytes = elem;
    bool overflow = false;
    for (size_t i = 0; i < a->size(); ++i) {
      const json& d = (*a)[i];
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return make_error(Code::kCorrupt, "manifest: {}.{}[{}] is not a non-negative integer", where_, key, i);
      uint64_t dim = d.get<uint64_t>();
      out->push_back(static_cast<int64_t>(dim));
      if (dim != 0 && bytes > UINT64_MAX / dim) overflow = true;
      else bytes *= dim;
    }
    bool zero = std::find(out->begin(), out->end(), 0) != out->end();
    if (zero) return uint64_t{0};
    if (overflow) return make_error(Code::kCorrupt, "manifest: {}.{}: element count x dtype size overflows", where_, key);
    return bytes;
  }

 private:
  const json& obj_;
  std::string where_;
};

std::string item_where(std::string_view list, size_t i, std::string_view name) {
  return name.empty() ? fmt::format("{}[{}]", list, i) : fmt::format("{}[{}] '{}'", list, i, name);
}

// One placed byte range, for the overlap check.
struct Placed {
  uint64_t offset, length;
  std::string label;
};

Status check_range(const std::string& where, uint64_t offset, uint64_t length, uint64_t data_length) {
  if (offset % kAlignment != 0)
    return make_error(Code::kCorrupt, "manifest: {} offset {} is not a multiple of {}", where, offset, kAlignment);
  if (offset > data_length || length > data_length - offset)
    return make_error(Code::kCorrupt, "manifest: {} [{}, +{}) runs past the end of the {}-byte data section", where,
                      offset, length, data_length);
  return Status::ok();
}

Status decode_tensors(const Fields& root, uint64_t data_length, Manifest* m, std::vector<Placed>* placed) {
  THAW_ASSIGN_OR_RETURN(const json* arr, root.array("tensors", kMaxTensors));
  std::unordered_set<std::string> names;
  m->tensors.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& o = (*arr)[i];
    if (!o.is_object()) return make_error(Code::kCorrupt, "manifest: tensors[{}] is not an object", i);
    Fields f(o, item_where("tensors", i, ""));
    TensorEntry t;
    THAW_ASSIGN_OR_RETURN(t.name, f.str("name", false));
    Fields g(o, item_where("tensors", i, t.name));
    if (!names.insert(t.name).second) return make_error(Code::kCorrupt, "manifest: {}: duplicate tensor name", g.where());
    THAW_ASSIGN_OR_RETURN(t.dtype, g.dtype("dtype"));
    THAW_ASSIGN_OR_RETURN(uint64_t expect, g.shape("shape", dtype_size(t.dtype), &t.shape));
    THAW_ASSIGN_OR_RETURN(t.offset, g.u64("offset"));
    THAW_ASSIGN_OR_RETURN(t.length, g.u64("length"));
    THAW_ASSIGN_OR_RETURN(t.checksum, g.checksum("checksum"));
    if (t.length != expect)
      return make_error(Code::kCorrupt, "manifest: {}: length {} does not match {} x {} = {} bytes", g.where(),
                        t.length, dtype_name(t.dtype), shape_json(t.shape).dump(), expect);
    THAW_TRY(check_range(g.where(), t.offset, t.length, data_length));
    placed->push_back({t.offset, t.length, fmt::format("tensor '{}'", t.name)});
    m->tensors.push_back(std::move(t));
  }
  return Status::ok();
}

Status decode_files(const Fields& root, uint64_t data_length, Manifest* m, std::vector<Placed>* placed) {
  THAW_ASSIGN_OR_RETURN(const json* arr, root.array("files", kMaxFiles));
  std::unordered_set<std::string> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& o = (*arr)[i];
    if (!o.is_object()) return make_error(Code::kCorrupt, "manifest: files[{}] is not an object", i);
    FileEntry fe;
    THAW_ASSIGN_OR_RETURN(fe.name, Fields(o, item_where("files", i, "")).str("name", false));
    Fields g(o, item_where("files", i, fe.name));
    if (!names.insert(fe.name).second) return make_error(Code::kCorrupt, "manifest: {}: duplicate file name", g.where());
    THAW_ASSIGN_OR_RETURN(fe.offset, g.u64("offset"));
    THAW_ASSIGN_OR_RETURN(fe.length, g.u64("length"));
    THAW_ASSIGN_OR_RETURN(fe.checksum, g.checksum("checksum"));
    THAW_TRY(check_range(g.where(), fe.offset, fe.length, data_length));
    placed->push_back({fe.offset, fe.length, fmt::format("file '{}'", fe.name)});
    m->files.push_back(std::move(fe));
  }
  return Status::ok();
}

Status check_overlaps(std::vector<Placed>& placed) {
  std::erase_if(placed, [](const Placed& p) { return p.length == 0; });
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < placed.size(); ++i) {
    const Placed& a = placed[i - 1];
    const Placed& b = placed[i];
    if (b.offset < a.offset + a.length)
      return make_error(Code::kCorrupt, "manifest: {} [{}, +{}) overlaps {} [{}, +{})", b.label, b.offset, b.length,
                        a.label, a.offset, a.length);
  }
  return Status::ok();
}

Status decode_chunks(const Fields& root, const Header& h, Manifest* m) {
  THAW_ASSIGN_OR_RETURN(const json* arr, root.array("chunks", std::min<uint64_t>(kMaxChunks, m->data_length / kAlignment)));
  const bool zstd = m->compression == Compression::kZstd;
  uint64_t expect_data = 0;
  uint64_t expect_file = h.data_offset;
  m->chunks.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& o = (*arr)[i];
    if (!o.is_object()) return make_error(Code::kCorrupt, "manifest: chunks[{}] is not an object", i);
    Fields g(o, fmt::format("chunks[{}]", i));
    ChunkEntry c;
    THAW_ASSIGN_OR_RETURN(c.id, g.str("id"));
    if (!is_chunk_id(c.id)) return make_error(Code::kCorrupt, "manifest: {}.id is not 32 lowercase hex digits", g.where());
    THAW_ASSIGN_OR_RETURN(c.data_offset, g.u64("offset"));
    THAW_ASSIGN_OR_RETURN(c.length, g.u64("length"));
    THAW_ASSIGN_OR_RETURN(c.file_offset, g.u64("file_offset"));
    THAW_ASSIGN_OR_RETURN(c.stored_length, g.u64("stored_length"));
    if (c.data_offset != expect_data)
      return make_error(Code::kCorrupt, "manifest: {}.offset is {}, expected {} (chunks must tile the data section in order)",
                        g.where(), c.data_offset, expect_data);
    if (c.length == 0 || c.length > m->chunk_size || c.length % kAlignment != 0 ||
        c.length > m->data_length - c.data_offset)
      return make_error(Code::kCorrupt, "manifest: {}.length {} must be a positive multiple of {}, at most chunk_size {} "
                        "and inside the {}-byte data section", g.where(), c.length, kAlignment, m->chunk_size, m->data_length);
    if (c.file_offset != expect_file)
      return make_error(Code::kCorrupt, "manifest: {}.file_offset is {}, expected {}", g.where(), c.file_offset, expect_file);
    if (zstd) {
      if (c.stored_length == 0 || c.stored_length > ZSTD_compressBound(c.length))
        return make_error(Code::kCorrupt, "manifest: {}.stored_length {} is not in [1, zstd bound {}]", g.where(),
                          c.stored_length, ZSTD_compressBound(c.length));
    } else if (c.stored_length != c.length) {
      return make_error(Code::kCorrupt, "manifest: {}.stored_length {} differs from length {} in an uncompressed bundle",
                        g.where(), c.stored_length, c.length);
    }
    if (c.stored_length > h.data_offset + h.data_stored_length - c.file_offset)
      return make_error(Code::kCorrupt, "manifest: {} stored at [{}, +{}) runs past the end of the {}-byte file", g.where(),
                        c.file_offset, c.stored_length, h.file_length);
    expect_data += c.length;
    expect_file += c.stored_length;
    m->chunks.push_back(std::move(c));
  }
  if (expect_data != m->data_length)
    return make_error(Code::kCorrupt, "manifest: chunks cover {} bytes of the {}-byte data section", expect_data,
                      m->data_length);
  if (expect_file != h.data_offset + h.data_stored_length)
    return make_error(Code::kCorrupt, "manifest: chunks store {} bytes but the header's data section holds {}",
                      expect_file - h.data_offset, h.data_stored_length);
  return Status::ok();
}

Status decode_warmup(const json& root_obj, Manifest* m) {
  auto it = root_obj.find("warmup");
  if (it == root_obj.end()) return Status::ok();
  Fields root(root_obj, "manifest");
  THAW_ASSIGN_OR_RETURN(const json* arr, root.array("warmup", kMaxWarmupRequests));
  for (size_t r = 0; r < arr->size(); ++r) {
    const json& ro = (*arr)[r];
    if (!ro.is_object()) return make_error(Code::kCorrupt, "manifest: warmup[{}] is not an object", r);
    THAW_ASSIGN_OR_RETURN(const json* inputs, Fields(ro, fmt::format("warmup[{}]", r)).array("inputs", kMaxWarmupInputs));
    WarmupRequest req;
    for (size_t i = 0; i < inputs->size(); ++i) {
      const json& o = (*inputs)[i];
      if (!o.is_object()) return make_error(Code::kCorrupt, "manifest: warmup[{}].inputs[{}] is not an object", r, i);
      Fields g(o, fmt::format("warmup[{}].inputs[{}]", r, i));
      WarmupInput in;
      THAW_ASSIGN_OR_RETURN(in.tensor_name, g.str("name", false));
      THAW_ASSIGN_OR_RETURN(in.dtype, g.dtype("dtype"));
      THAW_ASSIGN_OR_RETURN(uint64_t bytes, g.shape("shape", dtype_size(in.dtype), &in.shape));
      THAW_ASSIGN_OR_RETURN(in.file, g.str("file", false));
      const FileEntry* fe = m->find_file(in.file);
      if (fe == nullptr)
        return make_error(Code::kCorrupt, "manifest: {} (input '{}') names file '{}', which is not in the bundle",
                          g.where(), in.tensor_name, in.file);
      if (fe->length != bytes)
        return make_error(Code::kCorrupt, "manifest: {} (input '{}'): file '{}' has {} bytes, {} x {} needs {}", g.where(),
                          in.tensor_name, in.file, fe->length, dtype_name(in.dtype), shape_json(in.shape).dump(), bytes);
      req.inputs.push_back(std::move(in));
    }
    m->warmup.push_back(std::move(req));
  }
  return Status::ok();
}

Result<Manifest> decode_checked(std::string_view text, const Header& h) {
  if (!json_depth_ok(text))
    return make_error(Code::kCorrupt, "manifest: JSON nested deeper than {} levels", kMaxJsonDepth);
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return make_error(Code::kCorrupt, "manifest: not valid JSON");
  if (!root.is_object()) return make_error(Code::kCorrupt, "manifest: not a JSON object");
  Fields f(root, "manifest");
  Manifest m;
  THAW_ASSIGN_OR_RETURN(m.name, f.str("name"));
  THAW_ASSIGN_OR_RETURN(m.version, f.str("version"));
  THAW_ASSIGN_OR_RETURN(m.backend, f.str("backend"));
  THAW_ASSIGN_OR_RETURN(std::string comp, f.str("compression"));
  if (comp == "none") m.compression = Compression::kNone;
  else if (comp == "zstd") m.compression = Compression::kZstd;
  else return make_error(Code::kUnsupported, "manifest: compression '{}' is not 'none' or 'zstd'", comp);
  THAW_ASSIGN_OR_RETURN(m.byte_shuffle, f.boolean("byte_shuffle"));
  if (m.byte_shuffle && m.compression == Compression::kNone)
    return make_error(Code::kCorrupt, "manifest: byte_shuffle is set on an uncompressed bundle");
  THAW_ASSIGN_OR_RETURN(m.chunk_size, f.u64("chunk_size"));
  if (m.chunk_size < kMinChunkSize || m.chunk_size > kMaxChunkSize || m.chunk_size % kAlignment != 0)
    return make_error(Code::kCorrupt, "manifest: chunk_size {} is not a multiple of {} in [{}, {}]", m.chunk_size,
                      kAlignment, kMinChunkSize, kMaxChunkSize);
  THAW_ASSIGN_OR_RETURN(m.data_length, f.u64("data_length"));
  if (m.data_length > kMaxDataLength || m.data_length % kAlignment != 0)
    return make_error(Code::kCorrupt, "manifest: data_length {} is not a multiple of {} up to {}", m.data_length,
                      kAlignment, kMaxDataLength);
  if (m.compression == Compression::kNone && m.data_length != h.data_stored_length)
    return make_error(Code::kCorrupt, "manifest: data_length {} differs from the header's data_stored_length {} in an "
                      "uncompressed bundle", m.data_length, h.data_stored_length);
  m.data_offset = h.data_offset;
  std::vector<Placed> placed;
  THAW_TRY(decode_tensors(f, m.data_length, &m, &placed));
  THAW_TRY(decode_files(f, m.data_length, &m, &placed));
  THAW_TRY(check_overlaps(placed));
  THAW_TRY(decode_chunks(f, h, &m));
  THAW_TRY(decode_warmup(root, &m));
  if (auto it = root.find("metadata"); it != root.end()) {
    if (!it->is_object()) return make_error(Code::kCorrupt, "manifest: metadata is not an object");
    m.metadata = std::move(*it);
  }
  return m;
}

}  // namespace

Result<std::string> encode_manifest(const Manifest& m) {
  json root = json::object();
  root["name"] = m.name;
  root["version"] = m.version;
  root["backend"] = m.backend;
  root["compression"] = compression_name(m.compression);
  root["byte_shuffle"] = m.byte_shuffle;
  root["chunk_size"] = m.chunk_size;
  root["data_length"] = m.data_length;
  json tensors = json::array();
  for (const auto& t : m.tensors)
    tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", shape_json(t.shape)},
                       {"offset", t.offset}, {"length", t.length}, {"checksum", checksum_hex(t.checksum)}});
  root["tensors"] = std::move(tensors);
  json files = json::array();
  for (const auto& f : m.files)
    files.push_back({{"name", f.name}, {"offset", f.offset}, {"length", f.length}, {"checksum", checksum_hex(f.checksum)}});
  root["files"] = std::move(files);
  json chunks = json::array();
  for (const auto& c : m.chunks)
    chunks.push_back({{"id", c.id}, {"offset", c.data_offset}, {"length", c.length}, {"file_offset", c.file_offset},
                      {"stored_length", c.stored_length}});
  root["chunks"] = std::move(chunks);
  json warmup = json::array();
  for (const auto& r : m.warmup) {
    json inputs = json::array();
    for (const auto& in : r.inputs)
      inputs.push_back({{"name", in.tensor_name}, {"dtype", dtype_name(in.dtype)}, {"shape", shape_json(in.shape)},
                        {"file", in.file}});
    warmup.push_back({{"inputs", std::move(inputs)}});
  }
  root["warmup"] = std::move(warmup);
  root["metadata"] = m.metadata.is_object() ? m.metadata : json::object();
  try {
    return root.dump();
  } catch (const json::exception& e) {
    return make_error(Code::kInvalidArgument, "manifest cannot be encoded: {}", e.what());
  }
}

Result<Manifest> decode_manifest(std::string_view text, const Header& header) {
  try {
    return decode_checked(text, header);
  } catch (const std::exception& e) {
    return make_error(Code::kCorrupt, "manifest: {}", e.what());
  }
}

}  // namespace thaw::bundle
