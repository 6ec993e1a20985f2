// Turns a .thaw bundle into a LoadedModel: finds the bundle's backend plugin in the registry,
// loads the bundle as the plugin's load plan says, has the plugin create the backend, and reads
// the tokenizer and the warm-up inputs. The one place in the worker that knows bundles and
// tokenizers; backends it knows only through the registry.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/registry.h"
#include "worker/cold_start.h"
#include "worker/model_service.h"

namespace thaw::worker {

// When a bundle's data is checked completely (bundle::Reader::verify) before the model answers.
enum class VerifyMode {
  kFirstStart,  // on the first start of the file, remembered in a VerifiedCache
  kAlways,
  kNever,
};

struct BundleModelOptions {
  size_t max_text_tokens = 0;  // 0: the bundle's max_seq_length metadata, else 512
  // "key=value" items for the plugin's create(), checked against its create_options().
  std::vector<std::string> backend_options;
  // The model will be a zygote's template: refused when the plugin's load plan says forking a
  // loaded instance is unsafe.
  bool zygote = false;
  VerifyMode verify = VerifyMode::kNever;
  std::string verify_cache_dir;  // for kFirstStart; empty: verify every start
};

// Marks "bundle_open", "session_create" and (with a tokenizer) "tokenizer_load" on the timeline,
// and "verify" when the check outlasts the load: it runs on its own thread beside the load.
// A bundle that fails the check is kCorrupt naming the tensor or file (whatever else failed).
// Errors name the bundle: kNotFound for a backend `backends` does not have (listing those it has),
// kInvalidArgument for bad backend options, kUnsupported for route families this worker does not
// serve or an unsafe zygote.
Result<LoadedModel> load_bundle_model(const engine::Registry& backends, const std::string& path,
                                      const BundleModelOptions& options, ColdStartTimeline& timeline);

}  // namespace thaw::worker
