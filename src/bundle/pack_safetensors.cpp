#include "bundle/pack_safetensors.h"

#include <algorithm>
#include <array>
#include <unordered_set>

#include "bundle/format.h"

namespace thaw::bundle {

using nlohmann::json;

namespace {

struct StDtype {
  std::string_view name;
  DType dtype;
};
constexpr std::array<StDtype, 13> kDtypes = {{
    {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16}, {"F64", DType::kF64},
    {"I8", DType::kI8}, {"U8", DType::kU8}, {"I16", DType::kI16}, {"U16", DType::kU16},
    {"I32", DType::kI32}, {"U32", DType::kU32}, {"I64", DType::kI64}, {"U64", DType::kU64},
    {"BOOL", DType::kBool},
}};

Status bad(std::string_view what) { return make_error(Code::kCorrupt, "safetensors: {}", what); }

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Result<Entry> parse_entry(const std::string& name, const json& v, uint64_t data_size) {
  auto fail = [&](std::string_view why) {
    return make_error(Code::kCorrupt, "safetensors: tensor '{}': {}", name, why);
  };
  if (name.empty() || name.size() > kMaxNameBytes) return fail("name is empty or too long");
  if (!v.is_object()) return fail("entry is not an object");
  Entry e{name, DType::kF32, {}, 0, 0};
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return fail("no string 'dtype'");
  const auto& dts = dt->get_ref<const std::string&>();
  auto known = std::find_if(kDtypes.begin(), kDtypes.end(), [&](const StDtype& d) { return d.name == dts; });
  if (known == kDtypes.end())
    return make_error(Code::kUnsupported, "safetensors: tensor '{}': dtype '{}' is not supported", name, dts);
  e.dtype = known->dtype;
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array() || sh->size() > kMaxRank) return fail("'shape' is not an array of at most 16 dims");
  uint64_t bytes = dtype_size(e.dtype);
  bool overflow = false;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return fail("a shape dim is not a non-negative integer");
    uint64_t dim = d.get<uint64_t>();
    e.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && bytes > UINT64_MAX / dim) overflow = true;
    else bytes *= dim;
  }
  if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) bytes = 0;
  else if (overflow) return fail("shape is too large");
  auto offs = v.find("data_offsets");
  if (offs == v.end() || !offs->is_array() || offs->size() != 2 || !(*offs)[0].is_number_unsigned() ||
      !(*offs)[1].is_number_unsigned())
    return fail("'data_offsets' is not [begin, end]");
  e.begin = (*offs)[0].get<uint64_t>();
  e.end = (*offs)[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_size)
    return make_error(Code::kCorrupt, "safetensors: tensor '{}': data_offsets [{}, {}] fall outside the {} data bytes",
                      name, e.begin, e.end, data_size);
  if (e.end - e.begin != bytes)
    return make_error(Code::kCorrupt, "safetensors: tensor '{}': {} bytes, but {} x {} needs {}", name, e.end - e.begin,
                      dts, sh->dump(), bytes);
  return e;
}

}  // namespace

Status parse_safetensors(std::span<const std::byte> bytes, PackedModel* model) {
  if (bytes.size() < 8) return bad("file is shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<uint64_t>(bytes[static_cast<size_t>(i)]);
  if (n > kMaxSafetensorsHeader) return make_error(Code::kCorrupt, "safetensors: header length {} is over {} bytes", n, kMaxSafetensorsHeader);
  if (n > bytes.size() - 8)
    return make_error(Code::kCorrupt, "safetensors: header length {} runs past the end of the {}-byte file", n, bytes.size());
  std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  if (!json_depth_ok(text, kMaxJsonDepth)) return bad("header JSON nests too deeply");
  json header = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return bad("header is not a JSON object");
  const std::span<const std::byte> data = bytes.subspan(8 + n);
  if (header.size() > kMaxTensors + 1) return bad("too many tensors");
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return bad("__metadata__ is not an object");
      model->contents.metadata["safetensors"] = *it;
      continue;
    }
    THAW_ASSIGN_OR_RETURN(Entry e, parse_entry(it.key(), *it, data.size()));
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  size_t furthest = 0;  // the entry reaching furthest so far
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].end > entries[i].begin && entries[i].begin < entries[furthest].end)
      return make_error(Code::kCorrupt, "safetensors: tensors '{}' and '{}' overlap", entries[furthest].name,
                        entries[i].name);
    if (entries[i].end > entries[furthest].end) furthest = i;
  }
  for (auto& e : entries)
    model->contents.tensors.push_back({std::move(e.name), e.dtype, std::move(e.shape), data.subspan(e.begin, e.end - e.begin)});
  return Status::ok();
}

Result<std::unique_ptr<PackedModel>> pack_safetensors(const std::string& path) {
  auto model = std::make_unique<PackedModel>();
  THAW_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  model->mappings.push_back(std::move(file));
  model->contents.backend = "none";
  try {
    THAW_TRY(parse_safetensors(model->mappings.back().bytes(), model.get()).with_context(path));
  } catch (const std::exception& e) {
    return make_error(Code::kCorrupt, "{}: safetensors: {}", path, e.what());
  }
  return model;
}

}  // namespace thaw::bundle
