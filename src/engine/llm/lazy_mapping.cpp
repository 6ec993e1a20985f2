#include "engine/llm/lazy_mapping.h"

#include <sys/mman.h>

namespace thaw::engine {
namespace {
thread_local bool t_lazy = false;
thread_local int t_lazy_made = 0;
}  // namespace

LazyMappingScope::LazyMappingScope(bool lazy) : previous_(t_lazy) { t_lazy = lazy; }
LazyMappingScope::~LazyMappingScope() { t_lazy = previous_; }
int lazy_mappings_made() { return t_lazy_made; }

}  // namespace thaw::engine

// libllama's mmap() call, renamed at build time (CMakeLists.txt).
extern "C" void* thaw_llama_mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  if (thaw::engine::t_lazy && (flags & MAP_POPULATE) != 0) {
    flags &= ~MAP_POPULATE;
    ++thaw::engine::t_lazy_made;
  }
  return ::mmap(addr, length, prot, flags, fd, offset);
}
