// A fixed set of threads draining a bounded task queue; submit() refuses when the queue is full
// so callers fall back to doing the work themselves, or refuse it, instead of queueing without
// limit. The destructor drops queued tasks and joins the threads (running tasks finish first).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace thaw::cache {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    // `dropped` goes last, outside the lock: a task's captures may submit (refused) as they go.
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false when the queue is full or the pool is stopping.
  bool submit(std::function<void()> task) { return push(std::move(task), max_queue_); }
  // Queues `task` even past the queue's limit: for the next step of work already admitted, whose
  // number the caller bounds (one per open response, say). False only while stopping.
  bool submit_continuation(std::function<void()> task) { return push(std::move(task), SIZE_MAX); }
  // Whether the calling thread is one of this pool's (and so may block).
  bool on_pool_thread() const {
    for (const auto& t : threads_)
      if (t.get_id() == std::this_thread::get_id()) return true;
    return false;
  }

  size_t threads() const { return threads_.size(); }
  // Tasks running now, and waiting for a thread.
  size_t busy() const { return busy_.load(); }
  size_t queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  bool push(std::function<void()> task, size_t limit) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || queue_.size() >= limit) return false;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
        busy_.fetch_add(1);
      }
      task();
      task = nullptr;  // its captures go before the task counts as done
      busy_.fetch_sub(1);
    }
  }

  size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::atomic<size_t> busy_{0};
  std::vector<std::thread> threads_;
};

}  // namespace thaw::cache
