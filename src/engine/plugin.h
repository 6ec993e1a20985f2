// A backend plugin: everything thaw knows about one kind of model, kept in one folder
// (src/engine/<name>/). The registry (registry.h) finds a plugin by a bundle's manifest.backend;
// `thaw pack`, the worker and the manager ask the plugin and never name a backend themselves.
//
// A plugin says four things: how `thaw pack` builds a bundle for it, its load plan (what a fresh
// instance reads and costs, whether forking a loaded instance is safe), how to create a Backend
// from a loaded bundle, and its protocol identity. Plugins are immutable once registered and safe
// to call from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle/bundle.h"
#include "bundle/pack.h"
#include "common/status.h"
#include "engine/backend.h"
#include "engine/backend_options.h"
#include "loader/loader.h"

namespace thaw::engine {

// A worker in another process that serves a plugin's models in `thaw run`'s place (a runtime in
// another language). `thaw run` execs `argv` followed by its own arguments (the bundle, where to
// listen, the ready descriptor, ...), with `env` added to its environment: the process keeps its
// pid, descriptors and parent-death signal, so the supervisor cannot tell it from `thaw run`.
struct ExternalWorker {
  std::vector<std::string> argv;                            // argv[0]: a path to execute
  std::vector<std::pair<std::string, std::string>> env;     // set before exec
};

// How a fresh (not forked) instance gets a bundle into memory, and what that costs.
struct LoadPlan {
  // Non-empty: map the bundle lazily and fault in only these files; the rest of the data section is
  // read only if used. Empty: load the whole data section. Only for uncompressed bundles.
  std::vector<std::string> fault_in;
  // With fault_in empty: map the bundle lazily and fault in nothing, because the backend's runtime
  // maps and reads the file itself (llama.cpp). Only for uncompressed bundles.
  bool runtime_maps_file = false;
  // Whether a start reads only the bundle's files (the manifest's `files`: graph, tokenizer, warm-up
  // inputs, config), never a tensor's bytes, so it may begin while the tensors are still arriving
  // (the model store's start while fetching). False: a start may read anything.
  bool reads_only_files = false;
  // Memory a fresh instance adds before it can be measured: what it loads plus its runtime's own.
  uint64_t start_bytes = 0;
  // Whether instances may be forked from a loaded template (the zygote rung). False for runtimes
  // that cannot survive fork(), e.g. ones holding threads or child processes once loaded.
  bool zygote_safe = true;
};

// Route families a worker serves for a model, beyond health, /warm and /metrics.
enum class RouteFamily : uint8_t {
  kOpenInference,      // KServe v2: /v2/models/{m}/infer and friends, Triton's repository index
  kOpenAIEmbeddings,   // /v1/embeddings
  kOpenAICompletions,  // /v1/completions and /v1/chat/completions, streamed as server-sent events
};
std::string_view route_family_name(RouteFamily family);

// How a plugin's models appear on the wire.
struct ProtocolIdentity {
  std::string platform;             // KServe model metadata "platform", e.g. "onnxruntime_onnx"
  std::vector<RouteFamily> routes;  // the families its models are served under
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  // The manifest.backend value this plugin runs, e.g. "onnx".
  virtual std::string_view name() const = 0;
  virtual const ProtocolIdentity& protocol() const = 0;

  // --- thaw pack
  // What it packs, for help and errors, e.g. "ONNX models (*.onnx)"; empty: it packs nothing.
  virtual std::string_view packs() const = 0;
  // Whether `input` is a model this plugin packs; reads at most a few bytes of it.
  virtual bool claims(const std::string& input) const = 0;
  // What `thaw pack --backend-opt` takes for it.
  virtual std::span<const OptionSpec> pack_options() const = 0;
  // The bundle contents for `input`, with backend = name(). `options` were parsed against
  // pack_options().
  virtual Result<std::unique_ptr<bundle::PackedModel>> pack(const std::string& input,
                                                            const BackendOptions& options) const = 0;

  // --- loading
  // Reads nothing but the manifest and needs no runtime, so the manager can plan without one.
  virtual LoadPlan load_plan(const bundle::Manifest& manifest) const = 0;
  // What `thaw run --backend-opt` takes for it.
  virtual std::span<const OptionSpec> create_options() const = 0;
  // A backend over a bundle loaded as load_plan() says. The backend owns its runtime; `bundle` must
  // outlive it (weights are used in place). `options` were parsed against create_options().
  virtual Result<std::unique_ptr<Backend>> create(const loader::LoadedBundle& bundle,
                                                  const BackendOptions& options) const = 0;

  // --- running in a worker of its own
  // Set (non-empty argv) for a plugin whose models run in another process (create() then refuses):
  // what `thaw run` execs instead of serving the bundle itself. May prepare files for that worker
  // (e.g. unpack the bundle's code into a cache). `options` were parsed against create_options().
  // The default: empty, the model runs inside `thaw run` through create().
  virtual Result<ExternalWorker> external_worker(const bundle::Reader& bundle,
                                                 const BackendOptions& options) const {
    (void)bundle;
    (void)options;
    return ExternalWorker{};
  }
};

}  // namespace thaw::engine
