// `thaw pack`: turns a model into a .thaw bundle with the backend plugin that claims it, or a
// safetensors file into a weights-only bundle.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bundle/format.h"
#include "bundle/pack_safetensors.h"
#include "cli/backend_opts.h"
#include "cli/bundle_cli.h"
#include "common/progress.h"
#include "engine/registry.h"

namespace thaw::cli {

namespace {

namespace fs = std::filesystem;

struct PackArgs {
  std::string input;
  std::string python;
  std::string output;
  std::string compress = "none";
  int level = 3;
  bool no_shuffle = false;
  uint64_t chunk_mib = 4;
  std::string name;
  std::string version = "1";
  std::string backend;
  std::vector<std::string> extras;
  std::string warmup;
  bool no_warmup = false;
  BackendOptItems backend_opts;
  int threads = 0;
  bool json = false;
};

bool looks_like_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), 9);
  return in.gcount() == 9 && head[8] == '{';
}

int fail(const Status& s, int code) {
  fmt::print(stderr, "thaw pack: {}\n", s.to_string());
  return code;
}

// Who packs the input: the backend plugin that claims it, else (plugin null) the weights-only
// safetensors packer. kInvalidArgument for an input nobody packs or options the packer refuses.
struct Packer {
  const engine::Plugin* plugin = nullptr;
  engine::BackendOptions options;
};

Result<Packer> choose_packer(const engine::Registry& backends, const PackArgs& a) {
  Packer p;
  p.plugin = backends.claim(a.input);
  if (p.plugin == nullptr && fs::path(a.input).extension() != ".safetensors" &&
      !looks_like_safetensors(a.input))
    return make_error(
        Code::kInvalidArgument,
        "cannot tell the format of {}: thaw packs {}; and safetensors (*.safetensors) as weights only",
        a.input, backends.describe_packers());
  const std::string owner = p.plugin ? fmt::format("packing for backend '{}'", p.plugin->name())
                                     : std::string("packing weights only");
  const auto specs = p.plugin ? p.plugin->pack_options() : std::span<const engine::OptionSpec>();
  THAW_ASSIGN_OR_RETURN(p.options, engine::BackendOptions::parse(a.backend_opts.all(), specs, owner));
  return p;
}

int run_pack(const engine::Registry& backends, const PackArgs& a) {
  using namespace bundle;
  bundle::WriteOptions o;
  if (a.compress == "zstd") o.compression = Compression::kZstd;
  else if (a.compress != "none") return fail(make_error(Code::kInvalidArgument, "--compress must be none or zstd"), kExitUsage);
  o.zstd_level = a.level;
  o.byte_shuffle = !a.no_shuffle;
  o.chunk_size = a.chunk_mib << 20;
  if (a.chunk_mib == 0 || o.chunk_size < kMinChunkSize || o.chunk_size > kMaxChunkSize)
    return fail(make_error(Code::kInvalidArgument, "--chunk-mib must be in [1, {}]", kMaxChunkSize >> 20), kExitUsage);
  if (a.threads < 0) return fail(make_error(Code::kInvalidArgument, "--threads must be >= 0"), kExitUsage);
  o.threads = a.threads;
  if (!fs::exists(a.input)) return fail(make_error(Code::kNotFound, "input {} does not exist", a.input), kExitNotFound);

  const auto t0 = std::chrono::steady_clock::now();
  auto packer = choose_packer(backends, a);
  if (!packer.is_ok()) return fail(packer.status(), kExitUsage);
  Result<std::unique_ptr<PackedModel>> packed =
      packer->plugin ? packer->plugin->pack(a.input, packer->options) : pack_safetensors(a.input);
  if (!packed.is_ok())
    return fail(packed.status(), packed.status().code() == Code::kNotFound ? kExitNotFound : kExitFailure);
  PackedModel& model = **packed;
  BundleContents& c = model.contents;
  c.name = a.name.empty() ? (c.name.empty() ? fs::path(a.input).stem().string() : c.name) : a.name;
  c.version = a.version;
  if (!a.backend.empty()) c.backend = a.backend;
  for (const auto& e : a.extras) {
    Status s = add_extra_file(e, &model);
    if (!s.is_ok()) return fail(s, s.code() == Code::kNotFound ? kExitNotFound : kExitUsage);
  }
  if (a.no_warmup || !a.warmup.empty()) {
    std::erase_if(c.files, [](const WriterFile& f) { return f.name.starts_with("warmup/"); });
    c.warmup.clear();
  }
  if (!a.warmup.empty()) {
    std::ifstream in(a.warmup);
    if (!in) return fail(make_error(Code::kNotFound, "cannot read warm-up file {}", a.warmup), kExitNotFound);
    std::stringstream ss;
    ss << in.rdbuf();
    Status s = add_warmup_json(ss.str(), &model);
    if (!s.is_ok()) return fail(s, kExitUsage);
  }

  uint64_t total = 0, tensor_bytes = 0;
  for (const auto& t : c.tensors) {
    total += align_up(t.data.size(), kAlignment);
    tensor_bytes += t.data.size();
  }
  for (const auto& f : c.files) total += align_up(f.bytes().size(), kAlignment);
  const auto t1 = std::chrono::steady_clock::now();
  {
    ProgressBar bar("pack", total, ProgressBar::stderr_is_tty() && !a.json);
    o.progress = [&bar](uint64_t n) { bar.advance(n); };
    Status s = write(a.output, c, o);
    bar.finish();
    if (!s.is_ok()) return fail(s, s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure);
  }
  const auto t2 = std::chrono::steady_clock::now();
  const uint64_t out_size = fs::file_size(a.output);
  const double parse_s = std::chrono::duration<double>(t1 - t0).count();
  const double write_s = std::chrono::duration<double>(t2 - t1).count();
  const double total_s = std::chrono::duration<double>(t2 - t0).count();
  const double ratio = out_size > 0 ? static_cast<double>(total) / static_cast<double>(out_size) : 0;
  if (a.json) {
    nlohmann::json j = {{"output", a.output}, {"tensors", c.tensors.size()}, {"files", c.files.size()},
                        {"tensor_bytes", tensor_bytes}, {"data_length", total}, {"file_size", out_size},
                        {"compression", a.compress}, {"byte_shuffle", o.compression == Compression::kZstd && o.byte_shuffle},
                        {"zstd_level", a.level}, {"ratio", ratio}, {"parse_seconds", parse_s},
                        {"write_seconds", write_s}, {"seconds", total_s},
                        {"mib_per_s", total_s > 0 ? static_cast<double>(total) / (1 << 20) / total_s : 0.0}};
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("packed {} tensors ({}) and {} files into {}: {}, {}{} ratio {:.3f}, {:.2f} s ({:.0f} MiB/s)\n",
               c.tensors.size(), human_bytes(tensor_bytes), c.files.size(), a.output, human_bytes(out_size),
               a.compress, o.compression == Compression::kZstd && o.byte_shuffle ? " + byte-shuffle," : ",", ratio,
               total_s, total_s > 0 ? static_cast<double>(total) / (1 << 20) / total_s : 0.0);
  }
  return kExitOk;
}

}  // namespace

void register_pack(CLI::App& app, int* exit_code, const engine::Registry& backends) {
  auto a = std::make_shared<PackArgs>();
  CLI::App* cmd = app.add_subcommand(
      "pack",
      "Pack a model into one .thaw bundle: the weightless graph, every weight (each 4 KiB-aligned), extra "
      "files and warm-up inputs. INPUT is a model a backend packs (listed below) or a safetensors file "
      "(weights only). See docs/cli.md, docs/format.md and docs/backends.md.\n"
      "Exit codes: 0 ok, 1 the input could not be packed (malformed or unsupported model, I/O error), "
      "2 bad arguments, 4 input not found.");
  cmd->add_option("INPUT", a->input, "The model file: " + backends.describe_packers() + "; or *.safetensors");
  cmd->add_option("--python", a->python,
                  "A Python handler module (init/predict/warmup) to pack instead of INPUT, with its --extra files "
                  "and --requirements (docs/python.md)");
  cmd->add_option("-o,--output", a->output, "Bundle to write (atomically: temp file, fsync, rename)")->required();
  cmd->add_option("--compress", a->compress, "none (mmap-able in place) or zstd (independent frames per chunk)")
      ->capture_default_str();
  cmd->add_option("--level", a->level, "zstd level")->capture_default_str();
  cmd->add_flag("--no-shuffle", a->no_shuffle, "With zstd: do not byte-shuffle chunks (4-byte lanes) before compressing");
  cmd->add_option("--chunk-mib", a->chunk_mib, "Chunk (zstd frame) size in MiB")->capture_default_str();
  cmd->add_option("--name", a->name, "Model name (default: the input's file name without extension)");
  cmd->add_option("--version", a->version, "Model version")->capture_default_str();
  cmd->add_option("--backend", a->backend,
                  "Record this backend in the manifest instead of the packer's (none for safetensors)");
  cmd->add_option("--extra", a->extras, "Extra file to include by basename, e.g. tokenizer.json (repeatable)");
  cmd->add_option("--warmup", a->warmup,
                  "Warm-up requests as JSON: {\"input\": {\"dtype\": \"INT64\", \"shape\": [1, 4], \"data\": [...]}, ...} "
                  "or an array of such objects; replaces the default BERT-style request");
  cmd->add_flag("--no-warmup", a->no_warmup, "Store no warm-up request");
  cmd->add_option("--threads,-t", a->threads, "Threads for hashing and compression (0: all cores)")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print a JSON summary (sizes, ratio, seconds) instead of a line");
  add_backend_opts(cmd, backends, BackendOptKind::kPack, &a->backend_opts);
  cmd->callback([a, exit_code, &backends] {
    if (a->input.empty() == a->python.empty()) {
      fmt::print(stderr, "thaw pack: give one model: INPUT, or --python HANDLER.py (see thaw pack --help)\n");
      *exit_code = kExitUsage;
      return;
    }
    if (!a->python.empty()) {
      if (std::filesystem::path(a->python).extension() != ".py") {
        fmt::print(stderr, "thaw pack: --python takes a handler module (*.py), not {}\n", a->python);
        *exit_code = kExitUsage;
        return;
      }
      a->input = a->python;
    }
    *exit_code = run_pack(backends, *a);
  });
}

}  // namespace thaw::cli
