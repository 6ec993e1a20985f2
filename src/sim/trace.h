// An invocation trace in memory: per app, sorted arrival times and execution durations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace thaw::sim {

struct TraceApp {
  std::string id;
  double memory_mb = 0.0;
  std::vector<int64_t> arrival_us;  // sorted, microseconds since the trace start
  std::vector<float> duration_ms;   // one per arrival
};

struct Trace {
  std::string format;  // "azure2019" or "azure2021"
  std::vector<TraceApp> apps;
  Nanos horizon{0};    // end of the trace
  uint64_t invocations = 0;
};

struct TraceOptions {
  uint64_t seed = 1;                 // seeds the within-minute spreading of per-minute counts
  double default_memory_mb = 170.0;  // for apps with no memory record
  size_t max_apps = 0;               // keep only the first N apps (0 = all)
};

// Azure Functions 2019: a directory with invocations*.csv (per-minute counts, with or without a
// Trigger column), and optionally *durations*.csv and *memory*.csv. Functions of one app are
// merged into that app. Within a minute, c arrivals are spread by the stratified rule: the
// minute is cut into c equal slots and each arrival falls uniformly at random in its slot
// (seeded per app), so arrivals keep the minute's count and order without clumping.
Result<Trace> read_azure2019(const std::string& dir, const TraceOptions& opts);

// Azure Functions 2021: one CSV with app, func, end_timestamp, duration (seconds); an invocation
// arrives at end_timestamp - duration.
Result<Trace> read_azure2021(const std::string& file, const TraceOptions& opts);

// Picks the reader: a directory is 2019, a file is 2021.
Result<Trace> read_trace(const std::string& path, const TraceOptions& opts);

// The stratified spreading rule, exposed for tests: appends `count` sorted arrivals (microseconds)
// within the minute starting at minute_start_us, advancing the generator state.
void spread_minute(uint32_t count, uint64_t& rng_state, std::vector<int64_t>& out_us, int64_t minute_start_us);

}  // namespace thaw::sim
