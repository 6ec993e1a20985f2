#include "sim/pod_scaler.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <queue>

namespace thaw::sim {
namespace {

class Scaler {
 public:
  Scaler(const std::vector<PodRequest>& reqs, const PodScalerOptions& o) : reqs_(reqs), o_(o) {
    r_.wait_ms.assign(reqs.size(), 0.0f);
    target_ = std::max(1, o.target_per_pod);
    min_pods_ = std::max(0, o.min_pods);
    max_pods_ = std::max({1, min_pods_, o.max_pods});
    sync_us_ = std::max<int64_t>(1, static_cast<int64_t>(o.sync_s * 1e6));
    cooldown_us_ = static_cast<int64_t>(o.cooldown_s * 1e6);
    for (int k = 0; k < min_pods_; ++k) live_.push_back(0);
    ready_ = min_pods_;
  }

  PodScalerResult run(int64_t span_us) {
    size_t next = 0;
    for (;;) {
      int64_t t = INT64_MAX;
      if (next < reqs_.size()) t = reqs_[next].arrival_us;
      if (!done_.empty()) t = std::min(t, done_.top());
      if (!up_.empty()) t = std::min(t, up_.top());
      if (decide_at_ >= 0) t = std::min(t, decide_at_);
      if (t == INT64_MAX) break;
      scale_down_until(t);
      account(t);
      while (!done_.empty() && done_.top() <= t) {
        done_.pop();
        --inflight_;
      }
      serve_waiting(t, false);
      while (!up_.empty() && up_.top() <= t) {
        up_.pop();
        --starting_;
        ++ready_;
        serve_waiting(t, true);
      }
      while (next < reqs_.size() && reqs_[next].arrival_us <= t) {
        const size_t i = next++;
        if (ready_ == 0) ++r_.from_zero;
        if (waiting_.empty() && can_serve()) {
          serve(i, t, false);
        } else {
          waiting_.push_back(i);
          if (ready_ + starting_ == 0) decide(t);  // from zero: the activator asks for a pod at once
        }
        // More demand than the pods' target: the scaler's next look adds pods.
        if (decide_at_ < 0 && demand() > static_cast<int64_t>(ready_ + starting_) * target_)
          decide_at_ = (t / sync_us_ + 1) * sync_us_;
      }
      if (decide_at_ >= 0 && decide_at_ <= t) decide(t);
      r_.max_pods = std::max(r_.max_pods, ready_ + starting_);
      check_low(t);
    }
    scale_down_until(span_us);
    account(std::max(span_us, now_));
    for (int64_t s : live_) r_.pods.push_back({s, std::max(span_us, now_)});
    r_.pod_seconds = pod_us_ / 1e6;
    return std::move(r_);
  }

 private:
  int64_t capacity() const { return static_cast<int64_t>(ready_) * target_; }
  // A pod takes every request (the target only steers the scaler) unless the limit is hard.
  bool can_serve() const { return ready_ > 0 && (!o_.hard_limit || inflight_ < capacity()); }
  int64_t demand() const { return inflight_ + static_cast<int64_t>(waiting_.size()); }

  void account(int64_t t) {
    if (t > now_) pod_us_ += static_cast<double>(ready_ + starting_) * static_cast<double>(t - now_);
    now_ = std::max(now_, t);
  }

  void serve(size_t i, int64_t t, bool fresh) {
    ++inflight_;
    const double first_ms = fresh ? o_.first_request_ms : 0.0;
    r_.wait_ms[i] = static_cast<float>(static_cast<double>(t - reqs_[i].arrival_us) / 1e3 + first_ms);
    if (r_.wait_ms[i] > 0) ++r_.waited;
    done_.push(t + static_cast<int64_t>((first_ms + reqs_[i].duration_ms) * 1e3));
  }

  void serve_waiting(int64_t t, bool fresh) {
    while (!waiting_.empty() && can_serve()) {
      const size_t i = waiting_.front();
      waiting_.pop_front();
      serve(i, t, fresh);
    }
  }

  void decide(int64_t t) {
    decide_at_ = -1;
    const int want = std::min<int>(max_pods_, static_cast<int>((demand() + target_ - 1) / target_));
    for (int k = ready_ + starting_; k < want; ++k) {
      ++starting_;
      ++r_.pod_starts;
      live_.push_back(t);
      const double ms = o_.start_ms ? o_.start_ms() : o_.pod_start_ms;
      up_.push(t + static_cast<int64_t>(ms * 1e3));
    }
  }

  // Demand that fits in one pod fewer (none at all, for the last pod) starts the cooldown.
  bool low() const { return ready_ > min_pods_ && starting_ == 0 && demand() <= capacity() - target_; }
  void check_low(int64_t t) {
    if (!low()) {
      low_since_ = -1;
    } else if (low_since_ < 0) {
      low_since_ = t;
    }
  }
  void scale_down_until(int64_t t) {
    while (low_since_ >= 0 && low() && low_since_ + cooldown_us_ <= t) {
      account(low_since_ + cooldown_us_);
      --ready_;
      r_.pods.push_back({live_.back(), now_});
      live_.pop_back();
      low_since_ = low() ? now_ : -1;
    }
  }

  const std::vector<PodRequest>& reqs_;
  const PodScalerOptions& o_;
  PodScalerResult r_;
  int target_ = 1, min_pods_ = 0, max_pods_ = 1;
  int64_t sync_us_ = 1, cooldown_us_ = 0;
  int ready_ = 0, starting_ = 0;
  int64_t inflight_ = 0;
  std::deque<size_t> waiting_;
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> done_, up_;
  std::vector<int64_t> live_;  // start times of pods alive (LIFO: the newest goes first)
  int64_t now_ = 0, low_since_ = -1, decide_at_ = -1;
  double pod_us_ = 0.0;
};

}  // namespace

PodScalerResult scale_pods(const std::vector<PodRequest>& reqs, int64_t span_us, const PodScalerOptions& o) {
  Scaler s(reqs, o);
  return s.run(span_us);
}

}  // namespace thaw::sim
