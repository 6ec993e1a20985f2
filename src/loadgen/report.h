// Summarises a load run: counts by HTTP status and by failure, rates, and latency percentiles,
// over the measured window (arrivals at or after the warm-up). Counts always add up:
// sum(status_counts) + sum(error_counts) == measured.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "loadgen/latency.h"
#include "loadgen/outcome.h"
#include "loadgen/schedule.h"

namespace thaw::loadgen {

struct ModelReport {
  uint64_t requests = 0;
  uint64_t ok = 0;         // 2xx
  LatencySummary latency;  // from the scheduled time, over requests with an HTTP response
};

struct LoadReport {
  uint64_t scheduled = 0;  // every arrival, warm-up included
  uint64_t warmup = 0;     // arrivals before warmup_s: sent, not measured
  uint64_t measured = 0;
  double window_s = 0;                    // length of the measured part of the schedule
  double offered_rate = 0;                // measured / window_s
  double achieved_rate = 0;               // measured requests answered (any status) per second, from the
                                          // window's scheduled start to the last measured response
  double ok_rate = 0;                     // the same for 2xx answers only
  std::map<int, uint64_t> status_counts;  // HTTP status -> requests
  std::map<std::string, uint64_t> error_counts;       // failure_name -> requests
  std::map<std::string, std::string> error_examples;  // failure_name -> first message seen
  std::map<int, std::string> status_examples;         // HTTP status >= 400 -> start of its first body
  // Over measured requests that got an HTTP response (any status), in nanoseconds:
  LatencySummary from_schedule;  // scheduled time -> response complete (includes queueing)
  LatencySummary from_send;      // first send -> response complete
  LatencySummary send_lag;       // scheduled time -> first send, over every measured request sent
  std::map<std::string, ModelReport> per_model;  // only when the schedule names models
  uint64_t warmup_errors = 0;                    // warm-up requests without an HTTP response
  double wall_s = 0;
  uint64_t connections_opened = 0, peak_connections = 0, resends = 0;
};

LoadReport summarize_run(const Schedule& schedule, const std::vector<Outcome>& outcomes, double warmup_s,
                         const RunStats& stats);

// The report as JSON: times in milliseconds, counts as numbers, plus `description` (free-form
// settings of the run, passed through).
nlohmann::json to_json(const LoadReport& report, const nlohmann::json& description);

// A short human-readable table.
std::string to_text(const LoadReport& report);

}  // namespace thaw::loadgen
