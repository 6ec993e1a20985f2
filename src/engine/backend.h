// The Backend interface: one loaded model that runs inference. Each backend plugin (plugin.h,
// src/engine/<name>/) creates its own implementation; the worker talks only to this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"

namespace thaw::engine {

class Generator;  // engine/generator.h

// A model input or output as the model declares it; -1 in `shape` is a dynamic dimension.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// A request tensor; its bytes are borrowed from the request buffer for the duration of infer().
struct InputTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

struct OutputTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const ModelSignature& signature() const = 0;
  // Runs one inference. Checks names, dtypes and shapes against signature() and returns
  // kInvalidArgument naming the offending tensor. Safe to call from several threads.
  // An empty `outputs` means every output.
  virtual Result<std::vector<OutputTensor>> infer(std::span<const InputTensor> inputs,
                                                  std::span<const std::string> outputs) = 0;
  // A generative model's token generator (engine/generator.h), owned by the backend; null for
  // tensor-in, tensor-out models.
  virtual Generator* generator() { return nullptr; }
};

}  // namespace thaw::engine
