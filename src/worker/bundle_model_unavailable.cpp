// Built when this build has no ONNX Runtime backend, bundle reader or tokenizer to load with.
#include "worker/bundle_model.h"

namespace thaw::worker {

Result<LoadedModel> load_bundle_model(const std::string& path, const BundleModelOptions&, ColdStartTimeline&) {
  return make_error(Code::kUnsupported,
                    "cannot serve {}: this build of thaw has no bundle loader, ONNX Runtime backend "
                    "or tokenizer", path);
}

}  // namespace thaw::worker
