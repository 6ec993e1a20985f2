#include "engine/onnx/onnx_plugin.h"

#include <filesystem>

#include "engine/onnx/onnx_load_plan.h"
#include "engine/onnx/onnx_runtime.h"
#include "engine/onnx/pack_onnx.h"

namespace thaw::engine {
namespace {

Result<GraphOptimization> graph_optimization(std::string_view name) {
  if (name == "none") return GraphOptimization::kNone;
  if (name == "basic") return GraphOptimization::kBasic;
  if (name == "extended") return GraphOptimization::kExtended;
  if (name == "all") return GraphOptimization::kAll;
  return make_error(Code::kInvalidArgument, "unknown graph optimisation '{}'", name);
}

class OnnxPlugin final : public Plugin {
 public:
  std::string_view name() const override { return kOnnxBackendName; }
  const ProtocolIdentity& protocol() const override { return protocol_; }

  std::string_view packs() const override { return "ONNX models (*.onnx)"; }
  bool claims(const std::string& input) const override {
    return std::filesystem::path(input).extension() == ".onnx";
  }
  std::span<const OptionSpec> pack_options() const override { return pack_options_; }
  Result<std::unique_ptr<bundle::PackedModel>> pack(const std::string& input,
                                                    const BackendOptions& options) const override {
    THAW_ASSIGN_OR_RETURN(std::unique_ptr<bundle::PackedModel> model, pack_onnx(input));
    if (options.value("ort_format") == "true" && have_onnx_runtime()) {
      Status s = add_ort_format(*model);
      if (!s.is_ok())
        return s.with_context("converting the graph to ONNX Runtime's format (ort_format=false skips it)");
    }
    return model;
  }

  LoadPlan load_plan(const bundle::Manifest& manifest) const override { return onnx_load_plan(manifest); }
  std::span<const OptionSpec> create_options() const override { return create_options_; }
  Result<std::unique_ptr<Backend>> create(const loader::LoadedBundle& bundle,
                                          const BackendOptions& options) const override {
    OnnxOptions onnx;
    // One thread each: a session then holds no thread pool, so a zygote may fork after creating it.
    onnx.intra_op_threads = 1;
    onnx.inter_op_threads = 1;
    THAW_ASSIGN_OR_RETURN(onnx.optimization, graph_optimization(options.value("graph_optimization")));
    return create_onnx_backend(bundle, onnx);
  }

 private:
  const ProtocolIdentity protocol_{"onnxruntime_onnx", {RouteFamily::kOpenInference}};
  const std::vector<OptionSpec> pack_options_ = {
      {.key = "ort_format",
       .help =
           "also store graph.ort, the model in ONNX Runtime's format that a worker uses in place (fastest "
           "start; the bundle then holds the weights twice)",
       .default_value = "true",
       .choices = {"true", "false"},
       .alias = "--no-ort",
       .alias_value = "false"},
  };
  const std::vector<OptionSpec> create_options_ = {
      {.key = "graph_optimization",
       .help = "ONNX Runtime graph optimisation at load: none for graphs optimised at pack time; basic, "
               "extended or all start slower and run unoptimised graphs faster",
       .default_value = "none",
       .choices = {"none", "basic", "extended", "all"},
       .alias = "--graph-optimization"},
  };
};

}  // namespace

std::unique_ptr<Plugin> make_onnx_plugin() { return std::make_unique<OnnxPlugin>(); }

}  // namespace thaw::engine
