#include "sim/report.h"

#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "policy/policy_spec.h"

namespace thaw::sim {

using policy::index;
using policy::Rung;

nlohmann::json to_json(const SimResult& r, bool with_per_app) {
  nlohmann::json starts, idle_s, idle_gb, instance_starts, cold_requests;
  for (Rung rung : policy::kAllRungs) {
    std::string name(policy::rung_name(rung));
    starts[name] = r.starts_by_rung[index(rung)];
    instance_starts[name] = r.instance_starts_by_rung[index(rung)];
    cold_requests[name] = r.cold_requests_by_rung[index(rung)];
    idle_s[name] = r.idle_seconds[index(rung)];
    idle_gb[name] = r.idle_gb_s_by_rung[index(rung)];
  }
  nlohmann::json j = {
      {"policy", r.policy},
      {"invocations", r.invocations},
      {"starts_by_rung", starts},
      {"instance_starts_by_rung", instance_starts},
      {"cold_requests_by_rung", cold_requests},
      {"concurrent", r.concurrent},
      {"rejected", r.rejected},
      {"store_evictions", r.store_evictions},
      {"cold_pct", r.cold_pct},
      {"expensive_cold_pct", r.expensive_pct},
      {"latency_ms", {{"mean", r.latency_mean_ms}, {"p50", r.latency_p50_ms}, {"p99", r.latency_p99_ms}}},
      {"idle_seconds_by_rung", idle_s},
      {"idle_gb_s_by_rung", idle_gb},
      {"idle_gb_s", r.idle_gb_s},
      {"page_cache_gb_s", r.page_cache_gb_s},
      {"resident_gb_s", r.resident_gb_s},
      {"warm_idle_app_seconds", r.warm_idle_seconds},
      {"busy_seconds", r.busy_seconds},
      {"before_first_seconds", r.before_first_seconds},
      {"span_seconds", r.span_seconds},
      {"busy_gb_s", r.busy_gb_s},
      {"cost_usd", r.cost_usd},
      {"runtime_s", r.runtime_s},
  };
  if (with_per_app) {
    j["app_cold_pct"] = r.app_cold_pct;
    j["app_expensive_cold_pct"] = r.app_expensive_pct;
  }
  return j;
}

std::string csv_header() {
  return "policy,invocations,warm,zygote,page_cache,disk,cold_pct,expensive_cold_pct,latency_mean_ms,"
         "latency_p50_ms,latency_p99_ms,idle_gb_s,page_cache_gb_s,warm_idle_app_seconds,cost_usd,runtime_s";
}

std::string csv_row(const SimResult& r) {
  return fmt::format("\"{}\",{},{},{},{},{},{:.4f},{:.4f},{:.3f},{:.3f},{:.3f},{:.1f},{:.1f},{:.1f},{:.6f},{:.3f}", r.policy,
                     r.invocations, r.starts_by_rung[0], r.starts_by_rung[1], r.starts_by_rung[2], r.starts_by_rung[3],
                     r.cold_pct, r.expensive_pct, r.latency_mean_ms, r.latency_p50_ms, r.latency_p99_ms, r.idle_gb_s, r.page_cache_gb_s,
                     r.warm_idle_seconds, r.cost_usd, r.runtime_s);
}

std::vector<Result<SimResult>> run_specs(const Trace& trace, const std::vector<std::string>& specs,
                                         const SimOptions& opts, int threads, bool plan_model) {
  std::vector<Result<SimResult>> out(specs.size(), Result<SimResult>(make_error(Code::kInternal, "not run")));
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done{0};
  std::mutex progress_mu;
  auto worker = [&] {
    while (true) {
      size_t i = next.fetch_add(1);
      if (i >= specs.size()) return;
      auto pol = policy::make_policy(specs[i], opts.profile);
      if (!pol.is_ok()) {
        out[i] = pol.status();
        continue;
      }
      SimOptions local = opts;
      uint64_t reported = 0;
      local.progress = [&](uint64_t n) {
        done.fetch_add(n - reported);
        reported = n;
        if (opts.progress) {
          std::lock_guard lock(progress_mu);
          opts.progress(done.load());
        }
      };
      out[i] = plan_model ? simulate_plan_model(trace, **pol, local) : simulate(trace, std::move(*pol), local);
    }
  };
  int t = std::max(1, std::min<int>(threads, static_cast<int>(specs.size())));
  std::vector<std::thread> pool;
  for (int k = 1; k < t; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  return out;
}

}  // namespace thaw::sim
