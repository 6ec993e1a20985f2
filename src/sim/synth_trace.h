// Growing a trace to more models than it holds, for "what if the cluster served 10,000 models".
// Synthesised, not measured: each new model takes the arrival pattern of one real app drawn at
// random (its per-minute counts, so its rate and burstiness), shifted in time by up to an hour
// either way (circularly, so the day keeps its shape but the copies do not fire together), the
// memory of a second app drawn independently, and the durations of a third. The per-model rate,
// duration and memory distributions are the trace's; their correlations within one model are not.
#pragma once

#include <cstdint>

#include "sim/trace.h"

namespace thaw::sim {

struct GrowOptions {
  size_t models = 0;  // models wanted: fewer than the trace keeps its first ones
  uint64_t seed = 1;
  int64_t max_shift_minutes = 60;
};

// The trace's first `models` apps, then synthesised ones (ids "synth-<k>-of-<source>") up to
// `models`. Arrivals and memory are drawn from every app (one idle in the trace gives an idle model),
// durations from apps with invocations. Deterministic for a seed.
Trace grow_trace(const Trace& trace, const GrowOptions& opts);

// The first `minutes` of the trace (arrivals at or after the cut dropped, horizon set to it).
Trace cut_trace(const Trace& trace, double minutes);

}  // namespace thaw::sim
