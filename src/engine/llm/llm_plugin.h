// The llm backend plugin: generative language models in GGUF files, run by llama.cpp.
#pragma once

#include <memory>
#include <string_view>

#include "engine/plugin.h"

namespace thaw::engine {

inline constexpr std::string_view kLlmBackendName = "llm";
inline constexpr std::string_view kGgufFile = "model.gguf";  // the GGUF, whole, in the data section

std::unique_ptr<Plugin> make_llm_plugin();

}  // namespace thaw::engine
