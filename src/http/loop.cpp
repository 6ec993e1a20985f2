#include "http/loop.h"

#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "http/loop_impl.h"

namespace thaw::http {

void Loop::post(std::function<void()> fn) const {
  if (impl_) post_to(*impl_, std::move(fn));
}

bool Loop::running_here() const {
  if (!impl_) return false;
  using IoExecutor = boost::asio::io_context::executor_type;
  if (auto* io = impl_->executor.target<IoExecutor>()) return io->running_in_this_thread();
  if (auto* strand = impl_->executor.target<boost::asio::strand<IoExecutor>>()) return strand->running_in_this_thread();
  return false;
}

int Loop::index() const { return impl_ ? impl_->index : -1; }

struct LoopThread::State {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::shared_ptr<LoopGate> gate = std::make_shared<LoopGate>();
  std::thread thread;
};

LoopThread::LoopThread() : state_(std::make_unique<State>()) {
  loop_ = make_loop(state_->gate, state_->io.get_executor(), -1);
  state_->thread = std::thread([s = state_.get()] {
    for (;;) {
      try {
        s->io.run();
        return;
      } catch (...) {
        // A handler threw; the loop keeps serving the others.
      }
    }
  });
}

LoopThread::~LoopThread() {
  state_->guard.reset();
  state_->io.stop();
  if (state_->thread.joinable()) state_->thread.join();
  state_->gate->close();
}

}  // namespace thaw::http
