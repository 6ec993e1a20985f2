#include "engine/llm/llm_plugin.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/temp_dir.h"
#include "common/unique_fd.h"
#include "engine/llm/gguf_metadata.h"
#include "engine/llm/hf_to_gguf.h"
#include "engine/llm/llama_generator.h"
#include "engine/llm/memory_estimate.h"
#include "engine/llm/pack_gguf.h"
#include "engine/llm/quantize_gguf.h"

namespace thaw::engine {
namespace {

Result<std::optional<float>> unit_float(const BackendOptions& o, std::string_view key, float max) {
  std::string_view v = o.value(key);
  if (v.empty()) return std::optional<float>();
  float f = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), f);
  if (ec != std::errc() || end != v.data() + v.size() || !(f >= 0 && f <= max))
    return make_error(Code::kInvalidArgument, "{}={} must be a number in [0, {}]", key, v, max);
  return std::optional<float>(f);
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string_view(magic, 4) == "GGUF";
}

// The GGUF as llama.cpp reads it: the bundle file at the entry's offset (in place), or for a
// compressed bundle a memfd holding a copy of the decoded bytes.
struct GgufSource {
  std::string path;
  uint64_t offset = 0;
  UniqueFd memfd;
};

Result<GgufSource> gguf_source(const loader::LoadedBundle& bundle) {
  const bundle::Manifest& m = bundle.manifest();
  const bundle::FileEntry* entry = m.find_file(kGgufFile);
  if (entry == nullptr) return make_error(Code::kCorrupt, "the bundle has no {} file", kGgufFile);
  GgufSource src;
  if (m.compression == bundle::Compression::kNone && !bundle.source_path().empty()) {
    src.path = bundle.source_path();
    src.offset = m.data_offset + entry->offset;
    return src;
  }
  THAW_ASSIGN_OR_RETURN(std::span<const std::byte> bytes, bundle.file(kGgufFile));
  src.memfd = UniqueFd(::memfd_create("thaw-gguf", MFD_CLOEXEC));
  if (!src.memfd.valid()) return make_error(Code::kIo, "memfd_create: {}", std::strerror(errno));
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(src.memfd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(Code::kIo, "writing the GGUF copy: {}", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  src.path = "/proc/self/fd/" + std::to_string(src.memfd.get());
  return src;
}

class LlmPlugin final : public Plugin {
 public:
  std::string_view name() const override { return kLlmBackendName; }
  const ProtocolIdentity& protocol() const override { return protocol_; }

  std::string_view packs() const override {
    return "GGUF language models (*.gguf) and Hugging Face model directories (config.json + safetensors)";
  }
  bool claims(const std::string& input) const override {
    return std::filesystem::path(input).extension() == ".gguf" || is_hf_model_dir(input) ||
           has_gguf_magic(input);
  }
  std::span<const OptionSpec> pack_options() const override { return pack_options_; }
  Result<std::unique_ptr<bundle::PackedModel>> pack(const std::string& input,
                                                    const BackendOptions& options) const override {
    GgufPackOptions o;
    THAW_ASSIGN_OR_RETURN(o.temperature, unit_float(options, "temperature", 2.0f));
    THAW_ASSIGN_OR_RETURN(o.top_p, unit_float(options, "top_p", 1.0f));
    o.max_tokens = static_cast<uint32_t>(options.integer("max_tokens"));
    if (std::string_view w = options.value("warmup_prompt"); !w.empty()) o.warmup_prompts.emplace_back(w);
    std::string quantize(options.value("quantize"));
    for (char& ch : quantize) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool hf = is_hf_model_dir(input);
    if (!hf && quantize.empty()) return pack_gguf(input, o);
    // Converted and/or quantised into a scratch GGUF, packed, removed: the bundle holds its bytes.
    THAW_ASSIGN_OR_RETURN(TempDir scratch, TempDir::create("thaw-pack"));
    std::string gguf = input;
    if (hf) {
      gguf = (scratch.path() / "converted.gguf").string();
      THAW_TRY(convert_hf_to_gguf(input, gguf, options.value("convert_type")));
    } else {
      THAW_TRY(read_gguf_metadata(input).status());  // "not a GGUF" before llama.cpp's words
    }
    if (!quantize.empty()) {
      const std::string quantized = (scratch.path() / "quantized.gguf").string();
      THAW_TRY(quantize_gguf(gguf, quantized, quantize, 0));
      gguf = quantized;
    }
    THAW_ASSIGN_OR_RETURN(auto packed, pack_gguf(gguf, o));
    std::filesystem::path source(input);
    if (source.filename().empty()) source = source.parent_path();  // "dir/"
    packed->contents.name = source.stem().string();
    nlohmann::json& from = packed->contents.metadata["llm"]["packed_from"];
    from = {{"format", hf ? "huggingface" : "gguf"}};
    if (hf) from["convert_type"] = options.value("convert_type");
    if (!quantize.empty()) from["quantize"] = quantize;
    return packed;
  }

  LoadPlan load_plan(const bundle::Manifest& manifest) const override {
    LoadPlan plan;
    const bundle::FileEntry* gguf = manifest.find_file(kGgufFile);
    const nlohmann::json& llm = manifest.metadata.value("llm", nlohmann::json::object());
    // The create options' defaults (4 slots, the model's context up to 4096): the plan sees no options.
    if (gguf != nullptr && manifest.compression == bundle::Compression::kNone) {
      // llama.cpp maps the bundle itself and populates that mapping: faulting the GGUF in through
      // the loader's mapping too would build its page tables twice.
      plan.runtime_maps_file = true;
      plan.start_bytes = llm_start_bytes(llm, gguf->length, 4, 0);
    } else {
      plan.start_bytes = llm_start_bytes(llm, 2 * manifest.data_length, 4, 0);  // decoded, then copied
    }
    plan.zygote_safe = true;  // no thread until the first request (llama_generator.h)
    return plan;
  }
  std::span<const OptionSpec> create_options() const override { return create_options_; }
  Result<std::unique_ptr<Backend>> create(const loader::LoadedBundle& bundle,
                                          const BackendOptions& options) const override {
    LlamaOptions o;
    o.slots = static_cast<uint32_t>(options.integer("slots"));
    o.context = static_cast<uint32_t>(options.integer("context"));
    o.threads = static_cast<uint32_t>(options.integer("threads"));
    o.batch = static_cast<uint32_t>(options.integer("batch"));
    o.queue = static_cast<uint32_t>(options.integer("queue"));
    o.prompt_cache = options.integer("prompt_cache") != 0;
    o.populate = options.integer("populate") != 0;
    const nlohmann::json& llm = bundle.manifest().metadata.value("llm", nlohmann::json::object());
    if (llm.contains("generation") && llm["generation"].is_object()) {
      const nlohmann::json& g = llm["generation"];
      if (g.value("temperature", nlohmann::json()).is_number())
        o.defaults.defaults.temperature = g["temperature"].get<float>();
      if (g.value("top_p", nlohmann::json()).is_number()) o.defaults.defaults.top_p = g["top_p"].get<float>();
      if (g.value("max_tokens", nlohmann::json()).is_number_unsigned())
        o.defaults.default_max_tokens = g["max_tokens"].get<uint32_t>();
    }
    if (llm.contains("warmup") && llm["warmup"].is_object()) {
      const nlohmann::json& w = llm["warmup"];
      if (w.value("prompts", nlohmann::json()).is_array())
        for (const auto& p : w["prompts"])
          if (p.is_string()) o.warmup_prompts.push_back(p.get<std::string>());
      if (w.value("max_tokens", nlohmann::json()).is_number_unsigned())
        o.warmup_tokens = w["max_tokens"].get<uint32_t>();
    }
    THAW_ASSIGN_OR_RETURN(GgufSource src, gguf_source(bundle));
    auto backend = create_llama_backend(src.path, src.offset, o);
    return backend;  // llama.cpp has mapped the file; the memfd (if any) may close
  }

 private:
  const ProtocolIdentity protocol_{"llama_cpp_gguf", {RouteFamily::kOpenAICompletions}};
  const std::vector<OptionSpec> pack_options_ = {
      {.key = "temperature",
       .help = "default sampling temperature (0 to 2; 0 is greedy); default: the GGUF's, else 0.7"},
      {.key = "top_p", .help = "default nucleus sampling mass (0 to 1); default: the GGUF's, else 0.95"},
      {.key = "max_tokens",
       .help = "tokens generated when a request names no max_tokens",
       .default_value = "256",
       .range = std::pair<int64_t, int64_t>{1, 1 << 20}},
      {.key = "warmup_prompt",
       .help = "a prompt run (one token generated) before the model reports ready; default: 'Hello'"},
      {.key = "quantize",
       .help = "quantise the weights with llama.cpp's quantizer before packing, from an F16/BF16/F32 GGUF or a "
               "Hugging Face directory: q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k_s|m|l, q4_k_s, q4_k_m, q5_k_s, "
               "q5_k_m, q6_k, f16, bf16, f32 (as llama-quantize names them)",
       .alias = "--quantize"},
      {.key = "convert_type",
       .help = "for a Hugging Face directory: the GGUF type llama.cpp's converter writes (before --quantize)",
       .default_value = "f16",
       .choices = {"f32", "f16", "bf16", "q8_0"}},
  };
  const std::vector<OptionSpec> create_options_ = {
      {.key = "slots",
       .help = "requests decoded together by continuous batching",
       .default_value = "4",
       .range = std::pair<int64_t, int64_t>{1, 256}},
      {.key = "context",
       .help = "tokens per request (prompt + completion); 0: the model's, at most 4096",
       .default_value = "0",
       .range = std::pair<int64_t, int64_t>{0, 1 << 20}},
      {.key = "threads",
       .help = "compute threads per decoding step; 0: every core this process may use (its CPU affinity and cgroup quota)",
       .default_value = "0",
       .range = std::pair<int64_t, int64_t>{0, 1024}},
      {.key = "batch",
       .help = "tokens per decoding step (prompts are fed in chunks of this size)",
       .default_value = "512",
       .range = std::pair<int64_t, int64_t>{16, 8192}},
      {.key = "queue",
       .help = "requests that may wait for a free slot; more get 429",
       .default_value = "64",
       .range = std::pair<int64_t, int64_t>{0, 1 << 20}},
      {.key = "prompt_cache",
       .help = "1: a slot keeps its KV cache after a request and a new request reuses the longest "
               "shared prompt prefix (and the warm-up prompts'); 0: every prompt is prefilled whole",
       .default_value = "1",
       .range = std::pair<int64_t, int64_t>{0, 1}},
      {.key = "populate",
       .help = "1: read every weight before ready (MAP_POPULATE); 0: read in the background while "
               "the first request computes",
       .default_value = "0",
       .range = std::pair<int64_t, int64_t>{0, 1}},
  };
};

}  // namespace

std::unique_ptr<Plugin> make_llm_plugin() { return std::make_unique<LlmPlugin>(); }

}  // namespace thaw::engine
