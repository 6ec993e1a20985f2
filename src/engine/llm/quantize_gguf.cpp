#include "engine/llm/quantize_gguf.h"

#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "common/usable_cores.h"

namespace thaw::engine {
namespace {

// llama-quantize's names for the types worth packing; the i-quants need an importance matrix.
constexpr std::array<std::pair<std::string_view, llama_ftype>, 17> kTypes = {{
    {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},     {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
    {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},
    {"q3_k_s", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M},
    {"q3_k_l", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},
    {"f16", LLAMA_FTYPE_MOSTLY_F16},       {"bf16", LLAMA_FTYPE_MOSTLY_BF16},
    {"f32", LLAMA_FTYPE_ALL_F32},
}};
constexpr std::array<std::string_view, kTypes.size()> kNames = [] {
  std::array<std::string_view, kTypes.size()> names{};
  for (size_t i = 0; i < kTypes.size(); ++i) names[i] = kTypes[i].first;
  return names;
}();

// What llama.cpp says while it quantizes: its last error (for the message) and, on a terminal, the
// tensor count "[ 3/ 24]" as progress. llama.cpp's log callback is process-wide and quantizing
// happens at pack time only, so one sink is installed for the call and removed after.
struct LogSink {
  std::string last_error;
  bool progress = false;
  bool drew = false;

  static void callback(ggml_log_level level, const char* text, void* user) {
    auto* self = static_cast<LogSink*>(user);
    std::string_view line(text);
    if (level == GGML_LOG_LEVEL_ERROR) {
      while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
      if (!line.empty()) self->last_error = std::string(line);
      return;
    }
    int i = 0, n = 0;
    if (self->progress && std::sscanf(text, "[ %d/ %d]", &i, &n) == 2 && n > 0) {
      std::fprintf(stderr, "\rquantize     tensor %d/%d", i, n);
      std::fflush(stderr);
      self->drew = true;
    }
  }
};

}  // namespace

std::span<const std::string_view> gguf_quantize_types() { return kNames; }

Status quantize_gguf(const std::string& in, const std::string& out, std::string_view type, int threads) {
  std::string want(type);
  for (char& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto* found = std::find_if(kTypes.begin(), kTypes.end(), [&](const auto& t) { return t.first == want; });
  if (found == kTypes.end())
    return make_error(Code::kInvalidArgument, "unknown quantization type '{}': one of {}", type,
                      fmt::join(kNames, ", "));
  llama_backend_init();
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.nthread = threads > 0 ? threads : static_cast<int>(usable_cores());
  p.ftype = found->second;
  p.allow_requantize = false;
  LogSink sink;
  sink.progress = ::isatty(STDERR_FILENO) == 1;
  ggml_log_callback before = nullptr;
  void* before_data = nullptr;
  llama_log_get(&before, &before_data);
  llama_log_set(&LogSink::callback, &sink);
  const uint32_t rc = llama_model_quantize(in.c_str(), out.c_str(), &p);
  llama_log_set(before, before_data);
  if (sink.drew) std::fputc('\n', stderr);
  if (rc != 0) {
    std::string why = sink.last_error.empty() ? "no reason given" : sink.last_error;
    if (why.find("requantizing") != std::string::npos)
      why += " (the input is already quantised; quantise from the F16, BF16 or F32 GGUF)";
    return make_error(Code::kInvalidArgument, "llama.cpp cannot quantize {} to {}: {}", in, want, why);
  }
  return Status::ok();
}

}  // namespace thaw::engine
