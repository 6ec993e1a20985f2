// Whether llama.cpp's mapping of a GGUF is populated up front. llama.cpp maps a model with
// MAP_POPULATE, which reads every weight before the load returns; a worker started from disk then
// pays the whole read before its first request can compute anything. Without it, a
// ForwardOrderRead reads the file in order on a thread of its own while the first request's forward
// pass faults each layer's pages in as it reaches them: the read and the compute overlap
// (forward_order_read.h). The build
// renames libllama's one call of mmap() to thaw_llama_mmap() (objcopy, see CMakeLists.txt), which
// drops MAP_POPULATE while a LazyMappingScope is alive on the calling thread.
#pragma once

namespace thaw::engine {

class LazyMappingScope {
 public:
  explicit LazyMappingScope(bool lazy);
  ~LazyMappingScope();
  LazyMappingScope(const LazyMappingScope&) = delete;
  LazyMappingScope& operator=(const LazyMappingScope&) = delete;

 private:
  bool previous_;
};

// How many mappings the current thread made without MAP_POPULATE (tests: the scope took effect).
int lazy_mappings_made();

}  // namespace thaw::engine
