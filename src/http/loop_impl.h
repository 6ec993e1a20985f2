// Loop's insides, for the http module's own sources (they speak Asio).
#pragma once

#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include "http/loop.h"

namespace thaw::http {

// Whether an io_context may still take work. Its owner closes it after joining the loop's threads
// and before destroying the io_context; posts after that are dropped.
struct LoopGate {
  std::mutex mu;
  bool open = true;
  void close() {
    std::lock_guard lock(mu);
    open = false;
  }
};

struct Loop::Impl {
  std::shared_ptr<LoopGate> gate;
  boost::asio::any_io_executor executor;
  int index = -1;
};

inline Loop make_loop(std::shared_ptr<LoopGate> gate, boost::asio::any_io_executor executor, int index) {
  auto impl = std::make_shared<Loop::Impl>();
  impl->gate = std::move(gate);
  impl->executor = std::move(executor);
  impl->index = index;
  return Loop(std::move(impl));
}

// Posts under the gate, so nothing reaches an io_context that is going away.
template <class Fn>
void post_to(const Loop::Impl& loop, Fn&& fn) {
  std::lock_guard lock(loop.gate->mu);
  if (loop.gate->open) boost::asio::post(loop.executor, std::forward<Fn>(fn));
}

}  // namespace thaw::http
