// The `python` backend plugin: a user's handler module (init / predict / warmup), packed with its
// files and requirements and served by the Python worker (python/thaw_worker), which `thaw run`
// execs in its own place. See docs/python.md.
#pragma once

#include <memory>

#include "engine/plugin.h"

namespace thaw::engine {

std::unique_ptr<Plugin> make_python_plugin();

}  // namespace thaw::engine
