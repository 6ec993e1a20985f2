// Injected time: production code asks a Clock, tests and the simulator drive a ManualClock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace thaw {

using Nanos = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time since an arbitrary epoch.
  virtual Nanos now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  Nanos now() const override {
    return std::chrono::duration_cast<Nanos>(std::chrono::steady_clock::now().time_since_epoch());
  }
};

// Time moves only when told to; for tests and simulation. Readable from any thread.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Nanos start = Nanos{0}) : now_(start.count()) {}
  Nanos now() const override { return Nanos(now_.load(std::memory_order_acquire)); }
  void advance(Nanos d) { now_.fetch_add(d.count(), std::memory_order_acq_rel); }
  void set(Nanos t) { now_.store(t.count(), std::memory_order_release); }

 private:
  std::atomic<int64_t> now_;
};

inline double to_ms(Nanos d) { return std::chrono::duration<double, std::milli>(d).count(); }
inline double to_seconds(Nanos d) { return std::chrono::duration<double>(d).count(); }

}  // namespace thaw
