// The ONNX plugin's load plan: which files of a bundle a fresh instance faults in and what that
// costs. Reads only the manifest and needs no ONNX Runtime, so the manager can link it.
#pragma once

#include <cstdint>

#include "bundle/bundle.h"
#include "engine/plugin.h"

namespace thaw::engine {

// ONNX Runtime, its arenas and the tokenizer in a loaded instance: measured 20-30 MiB.
inline constexpr uint64_t kOnnxRuntimeBytes = 32u << 20;

// graph.ort when an instance can use it in place: present and stored uncompressed. Its
// initializers are the weights, so such an instance maps the bundle lazily and faults in only this
// file. nullptr otherwise.
const bundle::FileEntry* in_place_ort_graph(const bundle::Manifest& manifest);

// With an in-place graph.ort: fault in only that file, costing its length plus the runtime. Else
// the whole data section is loaded (graph.onnx reads its weights from it). Zygote-safe: a session
// keeps no threads of its own once created with one intra-op thread.
LoadPlan onnx_load_plan(const bundle::Manifest& manifest);

}  // namespace thaw::engine
