#include "worker/bundle_model.h"

#include <cstring>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/onnx/onnx_backend.h"
#include "engine/onnx/ort_environment.h"
#include "loader/loader.h"
#include "bundle/bundle.h"
#include "worker/text_encoder_factory.h"

namespace thaw::worker {
namespace {

// What the backend borrows: the ORT environment and the loaded data section (weights in place).
struct BundleResources {
  std::unique_ptr<engine::OrtEnvironment> env;
  loader::LoadedBundle bundle;
};


std::string as_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

Result<LoadedModel> load_bundle_model(const std::string& path, const BundleModelOptions& options,
                                      ColdStartTimeline& timeline) {
  auto res = std::make_shared<BundleResources>();
  {
    loader::LoadOptions lo;
    lo.threads = 1;  // no threads left behind: a zygote may fork after loading
    // An uncompressed bundle with graph.ort needs only that file (its initializers are used in
    // place) and a few small ones: map lazily and fault in graph.ort alone, so a cold start does
    // not read the tensor section, which holds the same weights a second time.
    static_assert(bundle::kOrtGraphFile == engine::kOrtModelFile);
    auto reader = bundle::Reader::open(path);
    if (!reader.is_ok()) return reader.status().with_context(fmt::format("opening bundle {}", path));
    const bool ort_only = bundle::in_place_ort_graph(reader->manifest()) != nullptr;
    if (ort_only) {
      lo.mode = loader::Mode::kMmap;
      lo.touch = lo.populate = lo.willneed = false;
    }
    auto loaded = loader::load(*reader, lo);
    if (!loaded.is_ok()) return loaded.status().with_context(fmt::format("opening bundle {}", path));
    res->bundle = std::move(loaded).value();
    if (ort_only) (void)res->bundle.fault_in_file(engine::kOrtModelFile);  // best effort: else faults on use
  }
  timeline.mark("bundle_open");
  const bundle::Manifest& m = res->bundle.manifest();
  if (m.backend != "onnx")
    return make_error(Code::kUnsupported, "bundle {} needs backend '{}'; this worker has 'onnx'", path, m.backend);

  // The tokenizer parses on a second core while ONNX Runtime builds the session on this one. The
  // thread is always joined before returning (jthread), so a zygote still forks with one thread.
  std::optional<Result<std::unique_ptr<TextEncoder>>> encoder;
  std::jthread tokenizer_loader;
  if (auto tok = res->bundle.file("tokenizer.json"); tok.is_ok()) {
    tokenizer_loader = std::jthread([&encoder, json = as_string(*tok)] { encoder.emplace(make_text_encoder(json)); });
  }

  THAW_ASSIGN_OR_RETURN(res->env, engine::OrtEnvironment::create());
  engine::OnnxOptions onnx;
  onnx.intra_op_threads = options.intra_op_threads;
  onnx.inter_op_threads = 1;
  if (options.graph_optimization == "none") onnx.optimization = engine::GraphOptimization::kNone;
  else if (options.graph_optimization == "basic") onnx.optimization = engine::GraphOptimization::kBasic;
  else if (options.graph_optimization == "extended") onnx.optimization = engine::GraphOptimization::kExtended;
  else if (options.graph_optimization == "all") onnx.optimization = engine::GraphOptimization::kAll;
  else return make_error(Code::kInvalidArgument, "unknown graph optimisation '{}'", options.graph_optimization);
  Result<std::unique_ptr<engine::Backend>> backend = make_error(Code::kInternal, "no graph");
  if (auto ort = res->bundle.file(engine::kOrtModelFile); ort.is_ok()) {
    // ORT format: fastest to start, initializers used in place in the mapped bundle.
    backend = engine::OnnxBackend::create_from_ort_format(*res->env, *ort, /*in_place=*/true, onnx);
  } else {
    auto graph = res->bundle.file(engine::kOnnxGraphFile);
    if (!graph.is_ok()) return graph.status().with_context(fmt::format("bundle {}", path));
    backend = engine::OnnxBackend::create(*res->env, as_string(*graph), res->bundle.data(), onnx);
  }
  if (!backend.is_ok()) return backend.status().with_context(fmt::format("creating the session for {}", path));
  timeline.mark("session_create");

  LoadedModel model;
  model.name = m.name;
  model.version = m.version.empty() ? "1" : m.version;
  model.backend = std::move(backend).value();
  model.keep_alive = res;

  model.max_text_tokens = options.max_text_tokens;
  if (model.max_text_tokens == 0 && m.metadata.contains("max_seq_length") &&
      m.metadata["max_seq_length"].is_number_unsigned())
    model.max_text_tokens = m.metadata["max_seq_length"].get<size_t>();
  if (model.max_text_tokens == 0) model.max_text_tokens = 512;

  if (tokenizer_loader.joinable()) {
    tokenizer_loader.join();
    if (!encoder->is_ok()) return encoder->status().with_context(fmt::format("tokenizer.json in {}", path));
    model.text_encoder = std::move(*encoder).value();  // null: this build takes no text
    timeline.mark("tokenizer_load");  // only the wait beyond session creation
  }

  for (const bundle::WarmupRequest& w : m.warmup) {
    std::vector<OwnedTensor> request;
    for (const bundle::WarmupInput& in : w.inputs) {
      auto bytes = res->bundle.file(in.file);
      if (!bytes.is_ok()) return bytes.status().with_context(fmt::format("warm-up input {}", in.file));
      OwnedTensor t{in.tensor_name, in.dtype, in.shape, {}};
      t.data.assign(bytes->begin(), bytes->end());
      request.push_back(std::move(t));
    }
    model.warmup.push_back(std::move(request));
  }
  return model;
}

}  // namespace thaw::worker
