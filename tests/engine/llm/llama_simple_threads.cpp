// llama.cpp's examples/simple takes no thread count and runs ggml's default (4) threads, which on a
// small shared machine spend most of a step spinning at barriers. Built into thaw_llama_simple with
// its llama_context_default_params() renamed to this function (a compile definition on simple.cpp
// only), so the example runs unmodified with $THAW_SIMPLE_THREADS threads (default 1).
#include <llama.h>

#include <cstdlib>

extern "C" llama_context_params thaw_simple_context_params(void) {
  llama_context_params p = llama_context_default_params();
  const char* env = std::getenv("THAW_SIMPLE_THREADS");
  const int n = env != nullptr ? std::atoi(env) : 1;
  p.n_threads = p.n_threads_batch = n > 0 ? n : 1;
  return p;
}
