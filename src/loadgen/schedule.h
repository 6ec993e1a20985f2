// When an open-loop load test sends each request: offsets from the start of the run, fixed
// before the first request goes out, so a slow server cannot slow the arrivals down.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace thaw::loadgen {

// Largest schedule accepted (about 32 bytes of bookkeeping per request at run time).
inline constexpr size_t kMaxArrivals = size_t{50} << 20;

struct Schedule {
  std::vector<double> offsets_s;  // seconds from the start of the run, non-decreasing
  // Empty, or one entry per offset: an index into `models` (the arrival's model name).
  std::vector<uint32_t> model_of;
  std::vector<std::string> models;  // distinct model names in order of first appearance
  double end_s = 0;                 // nominal length of the run (>= the last offset)

  size_t size() const { return offsets_s.size(); }
  bool has_models() const { return !models.empty(); }
};

// `rate` arrivals per second evenly spaced over [0, duration): arrival i at i / rate, for every
// i with i / rate < duration.
Result<Schedule> constant_rate(double rate, double duration_s);

// A Poisson process of intensity `rate` over [0, duration): exponential gaps drawn from a
// generator seeded with `seed`, so the same arguments give the same schedule on every machine.
Result<Schedule> poisson(double rate, double duration_s, uint64_t seed);

// Parses a schedule file: one arrival per line, "OFFSET_SECONDS [MODEL]" separated by spaces,
// tabs or one comma; blank lines and '#' comments are skipped. Either every line names a model
// or none does. Model names are limited to [A-Za-z0-9._-] (they are substituted into URLs).
// Lines may come in any order; the result is sorted by offset (stable).
Result<Schedule> parse_schedule(std::string_view text);
Result<Schedule> load_schedule_file(const std::string& path);

// Keeps the arrivals with offset < end_s (for --duration over a replayed file).
void truncate_schedule(Schedule& schedule, double end_s);

}  // namespace thaw::loadgen
