// Discrete-event replay of a trace through the manager `thaw serve` runs: every arrival is a
// request to the instance pool, and the ladder controller carries out the policy's plans (floors,
// back-off, zygotes, page-cache moves, the memory budget) over the fake launcher, whose starts take
// the rung profile's latencies on simulated time. What is replayed is the production code, not a
// model of it. Events are processed in time order across apps, so policies that learn across apps
// only ever see the past.
//
// Serving model by default (as in Shahrad et al.): one instance per app serves all of its requests
// (concurrency unbounded, max_instances 1); SimOptions can set the live configuration instead.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/rung.h"
#include "sim/trace.h"

namespace thaw::sim {

struct SimOptions {
  policy::RungProfile profile;
  double price_gb_s = 0.0000166667;  // $ per GB·s of idle memory (AWS Lambda x86 list price)
  bool per_app = true;               // keep per-app cold-start fractions (for the CDF plot)
  // Called now and then with the number of invocations replayed so far.
  std::function<void(uint64_t)> progress;
  // The serving configuration of every app (see ModelConfig).
  int concurrency = 1 << 30;
  int max_instances = 1;
  int min_instances = 0;
  uint64_t memory_budget_bytes = 0;  // the manager's PSS budget; 0: none
  // Called for every request served: its app, its index among the app's arrivals, and the
  // latency the start added (the cluster simulation adds the wait for a pod to it).
  std::function<void(uint32_t app, uint32_t k, float added_ms)> on_request;
  // Every app's bundle starts out in a registry, not on local disk: its first start fetches it
  // (the registry rung's latency) and later ones find it on disk (`thaw serve` with `source:`).
  bool from_registry = false;
  // With from_registry: the local store's disk budget (0: none). A fetch past it evicts the least
  // recently used copies not in use, whose next start pays the registry rung again.
  uint64_t store_budget_bytes = 0;
};

struct SimResult {
  std::string policy;
  uint64_t invocations = 0;
  // Rung each request found its app at; kWarm counts warm hits, including concurrent ones.
  std::array<uint64_t, policy::kRungCount> starts_by_rung{};
  uint64_t rejected = 0;    // requests the manager refused (queue limits, failed starts)
  uint64_t store_evictions = 0;  // local copies the store budget deleted (store_budget_bytes)
  // Instances started, by the rung they started from; pre-warms included (what `thaw serve`'s
  // /admin/models counts as cold_starts).
  std::array<uint64_t, policy::kRungCount> instance_starts_by_rung{};
  // Requests that waited for a start, by the rung it began at, concurrent ones included (what
  // `thaw serve`'s /metrics counts as thaw_gateway_cold_requests_total).
  std::array<uint64_t, policy::kRungCount> cold_requests_by_rung{};
  uint64_t concurrent = 0;  // requests that arrived while the app was busy
  double cold_pct = 0.0;       // requests not served warm
  double expensive_pct = 0.0;  // requests that needed a process start (page cache or disk)
  double latency_mean_ms = 0.0, latency_p50_ms = 0.0, latency_p99_ms = 0.0;
  // Idle time of all apps per rung (app-seconds) and the idle memory it held (GB·s).
  std::array<double, policy::kRungCount> idle_seconds{};
  std::array<double, policy::kRungCount> idle_gb_s_by_rung{};
  double idle_gb_s = 0.0;          // warm instances + zygotes (PSS): the memory held for idle models
  double page_cache_gb_s = 0.0;    // bundle pages kept in the page cache (reclaimable), separately
  double resident_gb_s = 0.0;      // idle_gb_s + page_cache_gb_s: everything the ladder holds
  double warm_idle_seconds = 0.0;  // the paper's "wasted memory time" (app-seconds loaded, idle)
  double busy_seconds = 0.0, busy_gb_s = 0.0;
  double before_first_seconds = 0.0;  // time before an app's first request (nothing resident)
  double span_seconds = 0.0;          // sum over apps of the accounted time; the parts add up to it
  double cost_usd = 0.0;  // idle_gb_s x price
  double runtime_s = 0.0;
  std::vector<float> app_cold_pct;       // per app with requests
  std::vector<float> app_expensive_pct;
};

// Replays the trace through the manager with `policy` (fresh: no events seen). Raises the global
// log level to warn: the manager would log each of the replay's starts.
SimResult simulate(const Trace& trace, std::unique_ptr<policy::Policy> policy, const SimOptions& opts);

// Fills the derived figures of `r` from its counts and accounts: % cold and % expensive from
// starts_by_rung and invocations, the latency statistics, the idle memory totals and their cost.
void summarise(SimResult& r, std::vector<float>& latencies, double latency_sum_ms, double price_gb_s);

// The earlier analytic model, which evaluates each IdlePlan directly instead of carrying it out:
// kept to explain how the two differ (`thaw sim --model plans`).
SimResult simulate_plan_model(const Trace& trace, policy::Policy& policy, const SimOptions& opts);

}  // namespace thaw::sim
