// Turns a .thaw bundle into a LoadedModel: opens and loads the bundle, creates the backend
// session, reads the tokenizer and the warm-up inputs. The one place in the worker that knows
// bundles, backends and tokenizers.
#pragma once

#include <cstddef>
#include <string>

#include "common/status.h"
#include "worker/cold_start.h"
#include "worker/model_service.h"

namespace thaw::worker {

struct BundleModelOptions {
  size_t max_text_tokens = 0;  // 0: the bundle's max_seq_length metadata, else 512
  int intra_op_threads = 1;    // backend threads per inference (1: forked children stay independent)
  // ONNX Runtime graph optimisation at session creation: "none" (for graphs optimised at pack
  // time; others run correctly, only slower), "basic", "extended" or "all".
  std::string graph_optimization = "none";
};

// Marks "bundle_open", "session_create" and (with a tokenizer) "tokenizer_load" on the timeline.
Result<LoadedModel> load_bundle_model(const std::string& path, const BundleModelOptions& options,
                                      ColdStartTimeline& timeline);

}  // namespace thaw::worker
