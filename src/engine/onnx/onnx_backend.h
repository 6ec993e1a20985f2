// Backend over the ONNX Runtime C API, built for fast session creation: weights are read in place
// from the bundle's data section (no copy), per-instance threads default to one, and a graph that
// was optimised at pack time (optimize_for_bundle) is loaded with optimisations off.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/backend.h"
#include "engine/onnx/bundle_files.h"
#include "engine/onnx/ort_environment.h"

struct OrtSessionOptions;

namespace thaw::engine {

// How initializers stored as external data reach ORT.
enum class WeightSource {
  // AddExternalInitializersFromFilesInMemory: ORT resolves each reference into the data section.
  kFilesInMemory,
  // AddExternalInitializers: one OrtValue per initializer pointing into the data section (the graph
  // is parsed once to find names, types and offsets).
  kInitializerValues,
};

enum class GraphOptimization { kNone, kBasic, kExtended, kAll };

struct OnnxOptions {
  WeightSource weights = WeightSource::kFilesInMemory;
  // What ORT does to the graph at load. kNone for graphs from optimize_for_bundle; a graph that
  // was not optimised at pack time still runs correctly with kNone, only slower.
  GraphOptimization optimization = GraphOptimization::kNone;
  // Pre-packing copies and re-lays-out MatMul/GEMM weights at load (more memory, slower creation,
  // somewhat faster inference). Off by default: it is most of the creation time and defeats
  // sharing the mapped weights.
  bool prepack_weights = false;
  int intra_op_threads = 1;
  int inter_op_threads = 1;
  bool allow_spinning = false;
  // ORT's CPU arena keeps freed activation buffers for reuse; off means malloc per run.
  bool cpu_arena = true;
  // A run whose inputs pass this many bytes gives the arena's grown regions back afterwards, so a
  // large request does not keep its activations' memory; smaller runs reuse the arena as before.
  uint64_t arena_shrink_above_bytes = 48 << 10;  // 2048 tokens of a BERT's three INT64 inputs
};

class OnnxBackend final : public Backend {
 public:
  // `graph_bytes` is an ONNX ModelProto whose external initializers reference kDataFileName at
  // offsets within `data_section`. `data_section` and `env` must outlive the backend; the weights
  // are used in place. `graph_bytes` may be released after create() returns.
  static Result<std::unique_ptr<Backend>> create(const OrtEnvironment& env,
                                                 std::string_view graph_bytes,
                                                 std::span<const std::byte> data_section,
                                                 const OnnxOptions& options = {});
  // An ORT-format model (.ort flatbuffer) holding its own initializers; with `in_place` the bytes
  // (and the initializers inside them) are used without copying and must outlive the backend.
  static Result<std::unique_ptr<Backend>> create_from_ort_format(const OrtEnvironment& env,
                                                                 std::span<const std::byte> ort_bytes,
                                                                 bool in_place,
                                                                 const OnnxOptions& options = {});
  ~OnnxBackend() override;

  const ModelSignature& signature() const override { return signature_; }
  Result<std::vector<OutputTensor>> infer(std::span<const InputTensor> inputs,
                                          std::span<const std::string> outputs) override;

 private:
  struct Impl;
  explicit OnnxBackend(std::unique_ptr<Impl> impl);
  // Creates the session from `model` bytes with `so`, then reads the signature.
  static Result<std::unique_ptr<Backend>> open(const OrtEnvironment& env, std::unique_ptr<Impl> impl,
                                               const void* model, size_t model_size,
                                               OrtSessionOptions* so, std::string_view what);
  std::unique_ptr<Impl> impl_;
  ModelSignature signature_;
};

}  // namespace thaw::engine
