// Runs one function on N threads (the caller is one of them) and joins them before returning.
#pragma once

#include <functional>

#include "common/status.h"

namespace thaw::loader {

// Calls fn(worker) for worker in [0, threads) concurrently and returns the first error, if any.
// Workers that share a queue should stop early once another worker has failed; see WorkQueue.
Status parallel_for(int threads, const std::function<Status(int worker)>& fn);

}  // namespace thaw::loader
