// An event loop that connections and asynchronous clients run on, as an opaque handle: code that
// answers a request later, or talks to an upstream without parking a thread, posts work to the
// loop of the connection it serves.
#pragma once

#include <functional>
#include <memory>

namespace thaw::http {

class Loop {
 public:
  Loop() = default;
  // Runs `fn` on the loop's thread, from any thread. Dropped (destroyed unrun) once the loop has
  // stopped for good, so a caller never has to know whether its server is still up.
  void post(std::function<void()> fn) const;
  // True when the calling thread is running this loop.
  bool running_here() const;
  // Which of its server's loops this is (0-based); -1 for a loop outside a server.
  int index() const;
  bool valid() const { return impl_ != nullptr; }

  struct Impl;
  explicit Loop(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<Impl>& impl() const { return impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

// A loop with its own thread, for asynchronous clients outside a server (tools, tests). Stops and
// joins in the destructor.
class LoopThread {
 public:
  LoopThread();
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  const Loop& loop() const { return loop_; }

  struct State;

 private:
  std::unique_ptr<State> state_;
  Loop loop_;
};

}  // namespace thaw::http
