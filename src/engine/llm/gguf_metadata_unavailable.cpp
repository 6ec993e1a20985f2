// Builds without llama.cpp: GGUF files are recognised but not read.

#include "engine/llm/gguf_metadata.h"

namespace thaw::engine {

Result<GgufMetadata> read_gguf_metadata(const std::string& path) {
  return make_error(Code::kUnsupported,
                    "this build of thaw has no llama.cpp to read {}; run scripts/setup.sh and rebuild", path);
}

}  // namespace thaw::engine
