#include "sim/synth_trace.h"

#include <algorithm>
#include <random>
#include <string>

namespace thaw::sim {

Trace grow_trace(const Trace& trace, const GrowOptions& opts) {
  Trace out;
  out.format = trace.format;
  out.horizon = trace.horizon;
  const size_t keep = std::min(opts.models, trace.apps.size());
  out.apps.assign(trace.apps.begin(), trace.apps.begin() + static_cast<std::ptrdiff_t>(keep));
  // Arrivals and memory come from any app (one with no call in the window is a model idle there);
  // durations from apps that have some.
  std::vector<size_t> with_calls;
  for (size_t i = 0; i < trace.apps.size(); ++i)
    if (!trace.apps[i].duration_ms.empty()) with_calls.push_back(i);
  std::mt19937_64 rng(opts.seed * 0x9e3779b97f4a7c15ull + 12345);
  const int64_t horizon_us = std::chrono::duration_cast<std::chrono::microseconds>(trace.horizon).count();
  const int64_t minute_us = 60'000'000;
  const int64_t minutes = std::max<int64_t>(1, horizon_us / minute_us);
  for (size_t k = out.apps.size(); k < opts.models && !with_calls.empty(); ++k) {
    std::uniform_int_distribution<size_t> any(0, trace.apps.size() - 1), called(0, with_calls.size() - 1);
    const TraceApp& arr = trace.apps[any(rng)];
    const TraceApp& mem = trace.apps[any(rng)];
    const TraceApp& dur = trace.apps[with_calls[called(rng)]];
    std::uniform_int_distribution<int64_t> shift_min(-opts.max_shift_minutes, opts.max_shift_minutes);
    const int64_t shift = ((shift_min(rng) % minutes) + minutes) % minutes * minute_us;
    const int64_t span = minutes * minute_us;
    TraceApp a;
    a.id = "synth-" + std::to_string(k) + "-of-" + arr.id;
    a.memory_mb = mem.memory_mb;
    a.arrival_us.reserve(arr.arrival_us.size());
    for (int64_t t : arr.arrival_us) a.arrival_us.push_back((t + shift) % span);
    std::sort(a.arrival_us.begin(), a.arrival_us.end());
    a.duration_ms.reserve(a.arrival_us.size());
    for (size_t j = 0; j < a.arrival_us.size(); ++j)
      a.duration_ms.push_back(dur.duration_ms[j % dur.duration_ms.size()]);
    out.apps.push_back(std::move(a));
  }
  for (const auto& a : out.apps) out.invocations += a.arrival_us.size();
  return out;
}

Trace cut_trace(const Trace& trace, double minutes) {
  const int64_t cut_us = static_cast<int64_t>(minutes * 60e6);
  Trace out;
  out.format = trace.format;
  out.horizon = std::min(trace.horizon, Nanos(std::chrono::microseconds(cut_us)));
  const int64_t end_us = std::chrono::duration_cast<std::chrono::microseconds>(out.horizon).count();
  out.apps.reserve(trace.apps.size());
  for (const auto& src : trace.apps) {
    TraceApp a;
    a.id = src.id;
    a.memory_mb = src.memory_mb;
    const size_t n = static_cast<size_t>(
        std::lower_bound(src.arrival_us.begin(), src.arrival_us.end(), end_us) - src.arrival_us.begin());
    a.arrival_us.assign(src.arrival_us.begin(), src.arrival_us.begin() + static_cast<std::ptrdiff_t>(n));
    a.duration_ms.assign(src.duration_ms.begin(), src.duration_ms.begin() + static_cast<std::ptrdiff_t>(n));
    out.invocations += n;
    out.apps.push_back(std::move(a));
  }
  return out;
}

}  // namespace thaw::sim
