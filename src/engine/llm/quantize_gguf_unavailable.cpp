// Builds without llama.cpp: nothing to quantize with.
#include "engine/llm/quantize_gguf.h"

namespace thaw::engine {

std::span<const std::string_view> gguf_quantize_types() { return {}; }

Status quantize_gguf(const std::string&, const std::string&, std::string_view, int) {
  return make_error(Code::kUnsupported,
                    "this build of thaw has no llama.cpp to quantize with; run scripts/setup.sh and rebuild");
}

}  // namespace thaw::engine
