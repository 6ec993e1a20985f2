// Builds without llama.cpp: the llm plugin still reads manifests; creating a backend fails.
#include "engine/llm/llama_generator.h"

namespace thaw::engine {

Result<std::unique_ptr<Backend>> create_llama_backend(const std::string&, uint64_t, const LlamaOptions&) {
  return make_error(
      Code::kUnsupported,
      "this build of thaw has no llama.cpp; run scripts/setup.sh and rebuild to serve GGUF models");
}
bool have_llama_runtime() { return false; }

}  // namespace thaw::engine
