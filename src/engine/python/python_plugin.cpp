#include "engine/python/python_plugin.h"

#include <filesystem>

#include "engine/python/handler_files.h"
#include "engine/python/pack_python.h"
#include "engine/python/python_runtime.h"

namespace thaw::engine {
namespace {

// What a handler's process costs before it can be measured: the interpreter with torch imported
// and its own files in memory.
constexpr uint64_t kInterpreterBytes = 384ull << 20;

class PythonPlugin final : public Plugin {
 public:
  std::string_view name() const override { return kPythonBackendName; }
  const ProtocolIdentity& protocol() const override { return protocol_; }

  std::string_view packs() const override { return "Python handlers (*.py: init/predict/warmup)"; }
  bool claims(const std::string& input) const override {
    return std::filesystem::path(input).extension() == ".py";
  }
  std::span<const OptionSpec> pack_options() const override { return pack_options_; }
  Result<std::unique_ptr<bundle::PackedModel>> pack(const std::string& input,
                                                    const BackendOptions& options) const override {
    return pack_python(input, {.requirements = std::string(options.value("requirements"))});
  }

  LoadPlan load_plan(const bundle::Manifest& manifest) const override {
    LoadPlan plan;
    plan.start_bytes = kInterpreterBytes + manifest.data_length;
    // The worker imports and initialises the handler once with one thread per pool, so a
    // template holds no threads when it forks (python/thaw_worker/zygote.py).
    plan.zygote_safe = true;
    return plan;
  }
  std::span<const OptionSpec> create_options() const override { return create_options_; }
  Result<std::unique_ptr<Backend>> create(const loader::LoadedBundle&, const BackendOptions&) const override {
    return make_error(
        Code::kUnsupported,
        "a Python handler runs in the Python worker (thaw run execs it), not inside thaw's own worker");
  }

  Result<ExternalWorker> external_worker(const bundle::Reader& bundle,
                                         const BackendOptions& options) const override {
    THAW_ASSIGN_OR_RETURN(std::string python, find_python(options.value("python")));
    THAW_ASSIGN_OR_RETURN(std::string package, find_worker_package());
    THAW_ASSIGN_OR_RETURN(std::string dir, unpack_handler(bundle, default_handler_cache()));
    ExternalWorker w;
    w.argv = {python, "-m", "thaw_worker", "--handler-dir", dir};
    std::string path = package;
    if (const char* old = std::getenv("PYTHONPATH"); old != nullptr && *old != '\0')
      path += std::string(":") + old;
    w.env.emplace_back("PYTHONPATH", path);
    return w;
  }

 private:
  const ProtocolIdentity protocol_{"python", {RouteFamily::kOpenInference}};
  const std::vector<OptionSpec> pack_options_ = {
      {.key = "requirements",
       .help = "pip requirements file for the handler; its environment is made once per distinct file, "
               "under ~/.cache/thaw/pyenv (docs/python.md)",
       .alias = "--requirements"},
  };
  const std::vector<OptionSpec> create_options_ = {
      {.key = "python",
       .help = "Python interpreter for the handler (default $THAW_PYTHON, else python3 on PATH)"},
      {.key = "predict_timeout_ms",
       .help = "a predict() running longer gets 504 and its instance is replaced",
       .default_value = "30000",
       .range = std::pair<int64_t, int64_t>{1, 3'600'000}},
      {.key = "memory_limit_mb",
       .help = "an instance whose resident memory passes this fails its request with 507 and is replaced (0: "
               "no limit)",
       .default_value = "0",
       .range = std::pair<int64_t, int64_t>{0, 1 << 24}},
      {.key = "spares",
       .help = "zygote children forked ahead of their request, past fork hygiene, after_fork() and warmup(), "
               "so a fork request waits for no fork (0: fork on request)",
       .default_value = "1",
       .range = std::pair<int64_t, int64_t>{0, 1}},
      {.key = "threads",
       .help = "torch / OpenMP threads per instance (the template itself runs with one)",
       .default_value = "1",
       .range = std::pair<int64_t, int64_t>{1, 256}},
  };
};

}  // namespace

std::unique_ptr<Plugin> make_python_plugin() { return std::make_unique<PythonPlugin>(); }

}  // namespace thaw::engine
