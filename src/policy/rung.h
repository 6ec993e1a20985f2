// The cold-start ladder: the rungs a model can sit at between requests, and what each one costs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace thaw::policy {

// Ordered from most to least ready. A request that finds its model at rung r waits latency[r].
enum class Rung : uint8_t {
  kWarm = 0,       // a running instance: serves at once
  kZygote = 1,     // a loaded template process: forks a ready instance
  kPageCache = 2,  // the bundle's pages are in the OS page cache: process start without disk reads
  kDisk = 3,       // nothing resident: process start reading the bundle from disk
  kRegistry = 4,   // no local copy: fetch the bundle from its source (bytes / bandwidth + latency), then disk
};
inline constexpr int kRungCount = 5;
inline constexpr std::array<Rung, kRungCount> kAllRungs = {Rung::kWarm, Rung::kZygote, Rung::kPageCache,
                                                           Rung::kDisk, Rung::kRegistry};

std::string_view rung_name(Rung r);
inline int index(Rung r) { return static_cast<int>(r); }
// Rungs that start a process (page cache or worse) are the expensive cold starts.
inline bool is_expensive(Rung r) { return r >= Rung::kPageCache; }

// Per-rung start latency and idle memory. Memory is a fraction of the model's resident memory
// (its warm-instance PSS), so one profile serves models of any size. A rung may hold more memory
// than the one above it (a bundle larger than what a process maps of it): it is then dominated,
// and a cost-minimising policy never picks it.
struct RungProfile {
  // The registry rung's default is a 100 MB bundle at 100 MB/s with 50 ms per request, after disk.
  std::array<double, kRungCount> latency_ms{0.0, 3.0, 40.0, 400.0, 1450.0};
  std::array<double, kRungCount> memory_fraction{1.0, 0.6, 0.3, 0.0, 0.0};
  std::string source = "built-in estimates (docs/policies.md)";

  double latency_s(Rung r) const { return latency_ms[index(r)] / 1000.0; }
  double memory_gb(Rung r, double model_mb) const {
    return memory_fraction[index(r)] * model_mb / 1024.0;
  }
};

// Parses a profile from YAML text (the format of profiles/default-rungs.yaml; other top-level keys
// are ignored). Validates that latency does not fall down the ladder, that memory is not negative,
// and that the disk and registry rungs hold no memory. The registry rung may be left out (profiles
// written before it): it is then the disk rung plus the built-in fetch estimate.
Result<RungProfile> parse_rung_profile(std::string_view yaml_text);
// The `rungs` map of that format, as a YAML node's text at `indent` spaces (for writers).
std::string rungs_yaml(const RungProfile& p, int indent);
// Reads and parses a profile file: kNotFound when it cannot be read; parse errors name the file.
Result<RungProfile> load_rung_profile(const std::string& path);

}  // namespace thaw::policy
