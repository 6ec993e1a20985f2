#include "loader/parallel.h"

#include <system_error>
#include <thread>
#include <vector>

namespace thaw::loader {

Status parallel_for(int threads, const std::function<Status(int worker)>& fn) {
  if (threads < 1) threads = 1;
  std::vector<Status> results(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  try {
    for (int w = 1; w < threads; ++w) pool.emplace_back([&, w] { results[w] = fn(w); });
  } catch (const std::system_error&) {
    // Could not start every thread: the ones running still finish the shared work.
    results.resize(pool.size() + 1);
  }
  results[0] = fn(0);
  for (auto& t : pool) t.join();
  for (auto& s : results)
    if (!s.is_ok()) return s;
  return Status::ok();
}

}  // namespace thaw::loader
