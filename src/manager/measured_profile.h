// The rung costs the live server measures, as rung profiles: per model (what its policy plans with)
// and for all models together (what `thaw sim --profile` replays with). Latency of a rung is the
// mean time its instance starts took (launch to ready, as counters.cold_start_seconds holds it);
// memory is what the rung held when last measured (the zygote's PSS, the bundle's bytes in the page
// cache) over a fresh instance's PSS. A rung with nothing measured keeps the base profile's value.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/rung.h"

namespace thaw::manager {

struct ModelState;

struct RungMeasurements {
  std::string model;
  std::array<uint64_t, policy::kRungCount> starts{};        // instance starts by the rung they began at
  std::array<double, policy::kRungCount> start_seconds{};   // their summed start time
  uint64_t warm_bytes = 0;        // PSS of a fresh (not forked) instance; 0: none measured yet
  uint64_t zygote_bytes = 0;      // PSS of the zygote; 0: none measured yet
  uint64_t page_cache_bytes = 0;  // the bundle's resident bytes at the page-cache rung; 0: not measured
  // The registry rung before a start from it was measured: the bundle's bytes over the measured
  // fetch bandwidth plus the source's latency (ms, added to the disk rung); 0: not a registry model.
  double fetch_ms = 0.0;
};

// What the model's state says of its rungs (model mutex held).
RungMeasurements measurements(const ModelState& m);

// One model's profile. Latency is made non-decreasing down the ladder (a noisy mean may dip below
// the rung above it); memory is relative to warm_bytes, or to `estimate_bytes` before an instance
// was measured.
policy::RungProfile measured_profile(const RungMeasurements& m, const policy::RungProfile& base,
                                     uint64_t estimate_bytes);
// All models together: starts pooled, memory fractions weighted by each model's warm bytes.
policy::RungProfile overall_profile(const std::vector<RungMeasurements>& models, const policy::RungProfile& base);

// The profile file `thaw serve` exports (GET /admin/profile, --write-profile): the overall profile
// in the format of profiles/*.yaml, which `thaw sim --profile` reads, and a `models` section with
// each model's own profile and what it rests on.
std::string profile_yaml(const std::vector<RungMeasurements>& models, const policy::RungProfile& base);

}  // namespace thaw::manager
