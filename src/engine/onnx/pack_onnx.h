// Packs an ONNX model (inline initializers, typed fields, or external data files next to it).
#pragma once

#include <memory>
#include <string>

#include "bundle/pack.h"

namespace thaw::engine {

// Reads the model and every initializer's bytes; the result's files hold "graph.onnx": the same
// ModelProto with every non-empty top-level initializer turned into an external-data reference
// {location: "thaw.data", offset: <the tensor's offset in the data section>, length: <bytes>}, so
// ONNX Runtime can run it with the data section supplied as "thaw.data". Tensors keep the
// initializers' names. metadata["signature"] records graph inputs/outputs (dynamic dims as -1); a
// BERT-like graph (input_ids, attention_mask[, token_type_ids]) gets a default warm-up request.
Result<std::unique_ptr<bundle::PackedModel>> pack_onnx(const std::string& path);

}  // namespace thaw::engine
