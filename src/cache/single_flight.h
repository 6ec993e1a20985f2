// Collapses concurrent work on the same key into one call: the first caller (the leader) runs the
// function; callers arriving while it runs wait for its result instead of running it again. Each
// wait is bounded: a follower that times out gets kDeadlineExceeded (the leader carries on).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status.h"

namespace thaw::cache {

template <typename V>
class SingleFlight {
 public:
  // Runs `fn` once per key at a time. `*leader` (optional) says whether this call ran it.
  Result<V> run(const std::string& key, std::chrono::milliseconds timeout,
                const std::function<Result<V>()>& fn, bool* leader = nullptr) {
    std::shared_ptr<Call> call;
    bool is_leader = false;
    {
      std::lock_guard lock(mu_);
      auto& slot = calls_[key];
      if (!slot) {
        slot = std::make_shared<Call>();
        is_leader = true;
      }
      call = slot;
    }
    if (leader) *leader = is_leader;
    if (is_leader) {
      std::optional<Result<V>> result;
      try {
        result.emplace(fn());
      } catch (const std::exception& e) {
        result.emplace(make_error(Code::kInternal, "{}", e.what()));
      }
      {
        std::lock_guard lock(mu_);
        calls_.erase(key);
      }
      {
        std::lock_guard lock(call->mu);
        call->result = *result;
      }
      call->cv.notify_all();
      return std::move(*result);
    }
    std::unique_lock lock(call->mu);
    waiting_.fetch_add(1);
    struct Done {
      std::atomic<size_t>& n;
      ~Done() { n.fetch_sub(1); }
    } done{waiting_};
    if (!call->cv.wait_for(lock, timeout, [&] { return call->result.has_value(); }))
      return make_error(Code::kDeadlineExceeded, "waited {} ms for the fetch of {}", timeout.count(), key);
    return *call->result;
  }

  // Callers blocked waiting for another caller's result.
  size_t waiting() const { return waiting_.load(); }
  // Keys with a call in flight.
  size_t in_flight() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<V>> result;
  };
  mutable std::mutex mu_;
  std::atomic<size_t> waiting_{0};
  std::unordered_map<std::string, std::shared_ptr<Call>> calls_;
};

}  // namespace thaw::cache
