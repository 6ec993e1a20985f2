// The registry of every backend plugin compiled into this build.
#pragma once

#include "engine/registry.h"

namespace thaw::engine {

// Registers the built-in plugins: onnx, python, llm. A new backend adds its folder and one line here.
Registry make_builtin_registry();

}  // namespace thaw::engine
