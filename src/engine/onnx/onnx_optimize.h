// Pack-time graph optimisation: runs ONNX Runtime's graph optimisers once and returns the result,
// so that loading a bundle skips them (OnnxOptions::optimization = kNone). The optimised graph may
// use ORT-internal contrib ops and is meant for the same ONNX Runtime build that produced it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/onnx/onnx_backend.h"
#include "engine/onnx/ort_environment.h"

namespace thaw::engine {

struct OptimizeOptions {
  // kExtended fuses attention, LayerNorm, GELU and folds constants, and stays portable across
  // CPUs. kAll adds layout transforms chosen for the packing machine's instruction set (NCHWc
  // block size), so a bundle packed with it may misbehave on another CPU.
  GraphOptimization level = GraphOptimization::kExtended;
  // Initializers at least this large are written to the data blob; smaller ones stay inside the
  // graph (ORT's shape inference needs small constants such as axes to be inline).
  uint64_t min_external_bytes = 1024;
};

struct OptimizedGraph {
  // ModelProto whose large initializers are external references to kDataFileName into `data`.
  std::string graph;
  // The new weight blob (folded/fused initializers), as ORT laid it out; pack re-lays it out.
  std::vector<std::byte> data;
};

// `graph_bytes` and `data_section` follow the bundle contract (see OnnxBackend::create). Writes
// only to a private temporary directory, removed before returning.
Result<OptimizedGraph> optimize_for_bundle(const OrtEnvironment& env, std::string_view graph_bytes,
                                           std::span<const std::byte> data_section,
                                           const OptimizeOptions& options = {});

// The same optimisation, saved in ONNX Runtime's own format (a flatbuffer holding the graph and
// every initializer). Loading it with OnnxBackend::create_from_ort_format(in_place = true) from a
// page-aligned mapping is the fastest start: no protobuf parse, no graph resolution, no weight
// copy. `options.min_external_bytes` is unused (the format keeps weights inside).
Result<std::string> convert_to_ort_format(const OrtEnvironment& env, std::string_view graph_bytes,
                                          std::span<const std::byte> data_section,
                                          const OptimizeOptions& options = {});

}  // namespace thaw::engine
