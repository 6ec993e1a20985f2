// `thaw inspect`: what is inside a bundle (header, manifest, sizes, compression ratio).
#include <algorithm>
#include <memory>
#include <numeric>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bundle/bundle.h"
#include "cli/bundle_cli.h"

namespace thaw::cli {

namespace {

using nlohmann::json;

struct InspectArgs {
  std::string bundle;
  bool json = false;
  size_t top = 10;
};

std::string shape_str(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

json to_json(const bundle::Reader& r) {
  const auto& m = r.manifest();
  uint64_t stored = 0, tensor_bytes = 0;
  for (const auto& c : m.chunks) stored += c.stored_length;
  for (const auto& t : m.tensors) tensor_bytes += t.length;
  json tensors = json::array();
  for (const auto& t : m.tensors)
    tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"offset", t.offset},
                       {"length", t.length}, {"checksum", fmt::format("{:016x}", t.checksum)}});
  json files = json::array();
  for (const auto& f : m.files)
    files.push_back({{"name", f.name}, {"offset", f.offset}, {"length", f.length},
                     {"checksum", fmt::format("{:016x}", f.checksum)}});
  json chunks = json::array();
  for (const auto& c : m.chunks)
    chunks.push_back({{"id", c.id}, {"offset", c.data_offset}, {"length", c.length}, {"file_offset", c.file_offset},
                      {"stored_length", c.stored_length}});
  json warmup = json::array();
  for (const auto& w : m.warmup) {
    json inputs = json::array();
    for (const auto& in : w.inputs)
      inputs.push_back({{"name", in.tensor_name}, {"dtype", dtype_name(in.dtype)}, {"shape", in.shape}, {"file", in.file}});
    warmup.push_back({{"inputs", inputs}});
  }
  return {{"path", r.path()},
          {"name", m.name},
          {"version", m.version},
          {"backend", m.backend},
          {"compression", m.compression == bundle::Compression::kZstd ? "zstd" : "none"},
          {"byte_shuffle", m.byte_shuffle},
          {"chunk_size", m.chunk_size},
          {"file_size", r.file_size()},
          {"data_offset", m.data_offset},
          {"data_length", m.data_length},
          {"data_stored_length", stored},
          {"ratio", stored > 0 ? static_cast<double>(m.data_length) / static_cast<double>(stored) : 1.0},
          {"tensor_bytes", tensor_bytes},
          {"tensors", tensors},
          {"files", files},
          {"chunks", chunks},
          {"warmup", warmup},
          {"metadata", m.metadata}};
}

void print_signature(const json& sig) {
  for (const char* side : {"inputs", "outputs"}) {
    if (!sig.contains(side) || !sig[side].is_array()) continue;
    for (const auto& v : sig[side]) {
      if (!v.is_object()) continue;
      fmt::print("  {:<7} {:<28} {:<6} {}\n", std::string_view(side).substr(0, std::string_view(side).size() - 1),
                 v.value("name", std::string("?")), v.value("dtype", std::string("?")),
                 v.contains("shape") ? v["shape"].dump() : "");
    }
  }
}

void print_human(const bundle::Reader& r, size_t top) {
  const auto& m = r.manifest();
  json j = to_json(r);
  fmt::print("bundle       {}\n", r.path());
  fmt::print("model        {} version {} (backend {})\n", m.name, m.version, m.backend);
  fmt::print("compression  {}{}, chunk size {}\n", j["compression"].get<std::string>(),
             m.byte_shuffle ? " + byte-shuffle" : "", human_bytes(m.chunk_size));
  fmt::print("size         file {}, data {} logical / {} stored, ratio {:.3f}\n", human_bytes(r.file_size()),
             human_bytes(m.data_length), human_bytes(j["data_stored_length"].get<uint64_t>()), j["ratio"].get<double>());
  fmt::print("contents     {} tensors ({}), {} files, {} chunks, {} warm-up requests\n", m.tensors.size(),
             human_bytes(j["tensor_bytes"].get<uint64_t>()), m.files.size(), m.chunks.size(), m.warmup.size());
  if (m.metadata.contains("signature") && m.metadata["signature"].is_object()) {
    fmt::print("signature\n");
    print_signature(m.metadata["signature"]);
  }
  std::vector<const bundle::TensorEntry*> order;
  for (const auto& t : m.tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->length > b->length; });
  if (!order.empty()) {
    fmt::print("largest tensors ({} of {})\n", std::min(top, order.size()), order.size());
    for (size_t i = 0; i < order.size() && i < top; ++i)
      fmt::print("  {:<48} {:<5} {:<16} {:>10}\n", order[i]->name, dtype_name(order[i]->dtype), shape_str(order[i]->shape),
                 human_bytes(order[i]->length));
  }
  if (!m.files.empty()) {
    fmt::print("files\n");
    for (const auto& f : m.files) fmt::print("  {:<48} {:>10}\n", f.name, human_bytes(f.length));
  }
  for (size_t w = 0; w < m.warmup.size(); ++w) {
    fmt::print("warm-up request {}\n", w);
    for (const auto& in : m.warmup[w].inputs)
      fmt::print("  {:<28} {:<6} {}\n", in.tensor_name, dtype_name(in.dtype), shape_str(in.shape));
  }
}

int run_inspect(const InspectArgs& a) {
  auto r = bundle::Reader::open(a.bundle);
  if (!r.is_ok()) {
    fmt::print(stderr, "thaw inspect: {}\n", r.status().to_string());
    return bundle_exit_code(r.status());
  }
  if (a.json) fmt::print("{}\n", to_json(*r).dump(2));
  else print_human(*r, a.top);
  return kExitOk;
}

}  // namespace

void register_inspect(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Show what a bundle holds: model, backend, compression and ratio, sizes, the graph's signature, the largest "
      "tensors, files, chunks and warm-up requests. Validates the header and manifest (not the data; see verify).\n"
      "Exit codes: 0 ok, 1 I/O error, 3 corrupt or unsupported bundle, 4 not found.");
  cmd->add_option("BUNDLE", a->bundle, "The .thaw file")->required();
  cmd->add_flag("--json", a->json, "Print everything (every tensor, file and chunk) as one JSON object");
  cmd->add_option("--top", a->top, "How many of the largest tensors to list")->capture_default_str();
  cmd->callback([a, exit_code] { *exit_code = run_inspect(*a); });
}

}  // namespace thaw::cli
