// The cold-start timeline of one worker: when each start-up phase ended, measured from the
// exec() that started the process, so a supervisor can see where start-up time goes.
//
// Exec time: a launcher that wants exact numbers exports THAW_EXEC_BOOTTIME_NS, the value of
// clock_gettime(CLOCK_BOOTTIME) in nanoseconds taken just before it calls exec (Python:
// time.clock_gettime_ns(time.CLOCK_BOOTTIME)). Without it the process start time from
// /proc/self/stat (field 22, clock ticks since boot: 10 ms resolution) is used instead.
// Both are on the CLOCK_BOOTTIME time base, which BootClock reads.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.h"

namespace thaw::worker {

// CLOCK_BOOTTIME: monotonic, counts suspend, shares its epoch with /proc/self/stat starttime.
class BootClock final : public Clock {
 public:
  Nanos now() const override;
};

enum class ExecTimeSource { kEnv, kProcStat, kUnknown };

struct ExecTime {
  Nanos at{0};  // on BootClock's time base
  ExecTimeSource source = ExecTimeSource::kUnknown;
};

// Reads THAW_EXEC_BOOTTIME_NS, else /proc/self/stat. `env_value` is the variable's value (or null).
ExecTime find_exec_time(const char* env_value);
std::string_view source_name(ExecTimeSource s);

// Phase marks in the order they happen: "main", "bundle_open", "session_create", "listening",
// "warmup", "ready", "first_request". Thread-safe.
class ColdStartTimeline {
 public:
  ColdStartTimeline(const Clock& clock, ExecTime exec) : clock_(clock), exec_(exec) {}

  // Records that the phase `name` ended now. Marks after the first of a name are ignored.
  void mark(const std::string& name);
  bool has(const std::string& name) const;
  // Per-phase durations (each from the previous mark; the first from exec) and totals:
  // {"exec_to_main_ms":..., "bundle_open_ms":..., ..., "exec_to_ready_ms":...,
  //  "exec_to_first_response_ms":..., "exec_time_source":"env"}
  nlohmann::json to_json() const;
  // (phase, seconds) pairs in order, for /metrics.
  std::vector<std::pair<std::string, double>> phase_seconds() const;
  // Seconds from exec to a mark, if recorded.
  std::optional<double> seconds_since_exec(const std::string& name) const;

 private:
  const Clock& clock_;
  ExecTime exec_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Nanos>> marks_;  // guarded by mu_
};

}  // namespace thaw::worker
