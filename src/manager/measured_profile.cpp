#include "manager/measured_profile.h"

#include <algorithm>

#include <fmt/format.h>

#include "manager/model_state.h"

namespace thaw::manager {

using policy::Rung;
using policy::index;

namespace {

// Latency from pooled starts, rung by rung, kept non-decreasing down the ladder.
// An unmeasured registry rung is the disk rung plus `fetch_ms` when that is known.
void set_latency(policy::RungProfile& p, const std::array<uint64_t, policy::kRungCount>& starts,
                 const std::array<double, policy::kRungCount>& seconds, double fetch_ms = 0.0) {
  for (Rung r : {Rung::kZygote, Rung::kPageCache, Rung::kDisk, Rung::kRegistry}) {
    const int i = index(r);
    if (starts[i] > 0) p.latency_ms[i] = 1000.0 * seconds[i] / static_cast<double>(starts[i]);
    else if (r == Rung::kRegistry && fetch_ms > 0.0) p.latency_ms[i] = p.latency_ms[i - 1] + fetch_ms;
    p.latency_ms[i] = std::max(p.latency_ms[i], p.latency_ms[i - 1]);
  }
}

uint64_t total_starts(const RungMeasurements& m) {
  uint64_t n = 0;
  for (uint64_t s : m.starts) n += s;
  return n;
}

}  // namespace

RungMeasurements measurements(const ModelState& m) {
  RungMeasurements out;
  out.model = m.config.name;
  out.starts = m.counters.cold_starts;
  out.start_seconds = m.counters.cold_start_seconds;
  out.warm_bytes = m.measured.warm;
  out.zygote_bytes = m.measured.zygote;
  out.page_cache_bytes = m.measured.page_cache;
  out.fetch_ms = m.fetch_estimate_ms;
  return out;
}

policy::RungProfile measured_profile(const RungMeasurements& m, const policy::RungProfile& base,
                                     uint64_t estimate_bytes) {
  policy::RungProfile p = base;
  set_latency(p, m.starts, m.start_seconds, m.fetch_ms);
  const double warm = static_cast<double>(m.warm_bytes > 0 ? m.warm_bytes : estimate_bytes);
  if (warm > 0.0) {
    p.memory_fraction[index(Rung::kWarm)] = 1.0;
    if (m.zygote_bytes > 0) p.memory_fraction[index(Rung::kZygote)] = static_cast<double>(m.zygote_bytes) / warm;
    if (m.page_cache_bytes > 0)
      p.memory_fraction[index(Rung::kPageCache)] = static_cast<double>(m.page_cache_bytes) / warm;
  }
  p.source = fmt::format("measured by thaw serve ({} starts of '{}'; unmeasured rungs from {})", total_starts(m),
                         m.model, base.source);
  return p;
}

policy::RungProfile overall_profile(const std::vector<RungMeasurements>& models, const policy::RungProfile& base) {
  policy::RungProfile p = base;
  std::array<uint64_t, policy::kRungCount> starts{};
  std::array<double, policy::kRungCount> seconds{};
  // Memory: sum of a rung's bytes over sum of warm bytes, over the models where both were measured.
  double zygote = 0.0, zygote_warm = 0.0, cache = 0.0, cache_warm = 0.0;
  uint64_t n = 0;
  for (const auto& m : models) {
    for (int i = 0; i < policy::kRungCount; ++i) {
      starts[i] += m.starts[i];
      seconds[i] += m.start_seconds[i];
    }
    n += total_starts(m);
    if (m.warm_bytes == 0) continue;
    if (m.zygote_bytes > 0) {
      zygote += static_cast<double>(m.zygote_bytes);
      zygote_warm += static_cast<double>(m.warm_bytes);
    }
    if (m.page_cache_bytes > 0) {
      cache += static_cast<double>(m.page_cache_bytes);
      cache_warm += static_cast<double>(m.warm_bytes);
    }
  }
  set_latency(p, starts, seconds);
  if (zygote_warm > 0.0) p.memory_fraction[index(Rung::kZygote)] = zygote / zygote_warm;
  if (cache_warm > 0.0) p.memory_fraction[index(Rung::kPageCache)] = cache / cache_warm;
  p.source = fmt::format("measured by thaw serve ({} starts over {} models; unmeasured rungs from {})", n,
                         models.size(), base.source);
  return p;
}

std::string profile_yaml(const std::vector<RungMeasurements>& models, const policy::RungProfile& base) {
  const policy::RungProfile all = overall_profile(models, base);
  // Sources are free text: quote them as JSON strings, which YAML reads as double-quoted scalars.
  auto quoted = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += (c == '\n' ? ' ' : c);
    }
    return out + "\"";
  };
  std::string out =
      "# Rung profile measured by thaw serve: latency is the mean instance start from each rung, memory\n"
      "# is relative to a fresh instance's PSS. `thaw sim --profile` reads `rungs`; `models` has each\n"
      "# model's own profile.\n";
  out += "source: " + quoted(all.source) + "\n";
  out += "rungs:\n" + policy::rungs_yaml(all, 2);
  out += "models:\n";
  for (const auto& m : models) {
    out += fmt::format("  {}:\n", quoted(m.model));
    out += fmt::format("    warm_mb: {:.6g}\n", static_cast<double>(m.warm_bytes) / (1 << 20));
    out += fmt::format("    zygote_mb: {:.6g}\n", static_cast<double>(m.zygote_bytes) / (1 << 20));
    out += fmt::format("    page_cache_mb: {:.6g}\n", static_cast<double>(m.page_cache_bytes) / (1 << 20));
    out += "    starts: {";
    for (Rung r : policy::kAllRungs)
      out += fmt::format("{}{}: {}", r == Rung::kWarm ? "" : ", ", policy::rung_name(r), m.starts[index(r)]);
    out += "}\n    rungs:\n" + policy::rungs_yaml(measured_profile(m, base, 0), 6);
  }
  return out;
}

}  // namespace thaw::manager
