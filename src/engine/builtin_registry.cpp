#include "engine/builtin_registry.h"

#include "engine/llm/llm_plugin.h"
#include "engine/onnx/onnx_plugin.h"
#include "engine/python/python_plugin.h"

namespace thaw::engine {

Registry make_builtin_registry() {
  Registry registry;
  registry.add(make_onnx_plugin());
  registry.add(make_python_plugin());
  registry.add(make_llm_plugin());
  return registry;
}

}  // namespace thaw::engine
