#include "engine/onnx/onnx_optimize.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <onnxruntime_c_api.h>

#include "common/temp_dir.h"
#include "engine/onnx/ort_session_setup.h"
#include "engine/onnx/ort_status.h"

namespace thaw::engine {
namespace {

Result<std::string> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Code::kIo, "reading {}: cannot open", path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error(Code::kIo, "reading {} failed", path.string());
  return bytes;
}

// Runs ORT's optimisers over the graph once with `extra` applied to the session options, saving
// the result to `out_path` (ORT writes it while creating the session).
Status optimise_once(const OrtEnvironment& env, std::string_view graph_bytes,
                     std::span<const std::byte> data_section, GraphOptimization level,
                     const std::filesystem::path& out_path,
                     const std::vector<std::pair<const char*, std::string>>& extra) {
  const OrtApi& api = env.api();
  if (graph_bytes.empty()) return make_error(Code::kInvalidArgument, "the ONNX graph is empty");
  OnnxOptions session_options;
  session_options.optimization = level;
  THAW_ASSIGN_OR_RETURN(OrtPtr<OrtSessionOptions> so, make_session_options(api, session_options));
  THAW_ORT_TRY(api, api.SetOptimizedModelFilePath(so.get(), out_path.c_str()),
               "setting the optimised model path");
  for (const auto& [key, value] : extra) {
    THAW_ORT_TRY(api, api.AddSessionConfigEntry(so.get(), key, value.c_str()),
                 std::string("setting session option ") + key);
  }
  std::vector<OrtPtr<OrtValue>> keep_alive;
  THAW_TRY(attach_weights(api, so.get(), WeightSource::kFilesInMemory, graph_bytes, data_section,
                          keep_alive));
  OrtSession* session = nullptr;
  THAW_ORT_TRY(api,
               api.CreateSessionFromArray(env.env(), graph_bytes.data(), graph_bytes.size(), so.get(),
                                          &session),
               "optimising the graph");
  api.ReleaseSession(session);
  return Status::ok();
}

}  // namespace

Result<OptimizedGraph> optimize_for_bundle(const OrtEnvironment& env, std::string_view graph_bytes,
                                           std::span<const std::byte> data_section,
                                           const OptimizeOptions& options) {
  THAW_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("thaw-optimize"));
  const std::filesystem::path graph_path = dir.path() / "graph.onnx";
  const std::string data_name(kDataFileName);
  THAW_TRY(optimise_once(env, graph_bytes, data_section, options.level, graph_path,
                         {{"session.optimized_model_external_initializers_file_name", data_name},
                          {"session.optimized_model_external_initializers_min_size_in_bytes",
                           std::to_string(options.min_external_bytes)}}));
  OptimizedGraph out;
  THAW_ASSIGN_OR_RETURN(out.graph, slurp(graph_path));
  const std::filesystem::path data_path = dir.path() / data_name;
  if (std::filesystem::exists(data_path)) {
    THAW_ASSIGN_OR_RETURN(std::string data, slurp(data_path));
    out.data.resize(data.size());
    std::memcpy(out.data.data(), data.data(), data.size());
  }
  return out;
}

Result<std::string> convert_to_ort_format(const OrtEnvironment& env, std::string_view graph_bytes,
                                          std::span<const std::byte> data_section,
                                          const OptimizeOptions& options) {
  THAW_ASSIGN_OR_RETURN(TempDir dir, TempDir::create("thaw-optimize"));
  const std::filesystem::path ort_path = dir.path() / "model.ort";
  THAW_TRY(optimise_once(env, graph_bytes, data_section, options.level, ort_path,
                         {{"session.save_model_format", "ORT"}}));
  return slurp(ort_path);
}

}  // namespace thaw::engine
