#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "policy/fixed_keepalive.h"
#include "policy/policy_spec.h"
#include "sim/report.h"
#include "sim/simulator.h"

namespace thaw::sim {
namespace {

using policy::index;
using policy::Rung;

// A trace from per-app arrival times in minutes.
Trace make_trace(const std::vector<std::vector<double>>& arrivals, double minutes_total, float duration_ms = 0.0f,
                 double memory_mb = 512.0) {
  Trace t;
  t.format = "synthetic";
  t.horizon = std::chrono::microseconds(static_cast<int64_t>(minutes_total * 60e6));
  for (size_t i = 0; i < arrivals.size(); ++i) {
    TraceApp a;
    a.id = "app" + std::to_string(i);
    a.memory_mb = memory_mb;
    for (double m : arrivals[i]) {
      a.arrival_us.push_back(static_cast<int64_t>(std::llround(m * 60e6)));
      a.duration_ms.push_back(duration_ms);
    }
    t.invocations += a.arrival_us.size();
    t.apps.push_back(std::move(a));
  }
  return t;
}

std::vector<double> every(double period, double until, double start = 0.0) {
  std::vector<double> v;
  for (double m = start; m < until; m += period) v.push_back(m);
  return v;
}

std::vector<double> poisson(double mean_gap, double until, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(1.0 / mean_gap);
  std::vector<double> v;
  for (double m = gap(rng); m < until; m += gap(rng)) v.push_back(m);
  return v;
}

SimResult run(const Trace& t, const std::string& spec) {
  SimOptions opts;
  auto p = policy::make_policy(spec, opts.profile);
  EXPECT_TRUE(p.is_ok()) << spec;
  return simulate(t, std::move(*p), opts);
}

TEST(Simulator, FromARegistryTheFirstStartFetches) {
  Trace t = make_trace({every(5, 1440), every(30, 1440)}, 1440);
  SimOptions opts;
  opts.from_registry = true;
  auto pol = policy::make_policy("fixed10", opts.profile);
  SimResult r = simulate(t, std::move(*pol), opts);
  // Each app's first call pays the fetch; the 30-minute app falls back to disk, not to the registry.
  EXPECT_EQ(r.starts_by_rung[index(Rung::kRegistry)], 2u);
  EXPECT_EQ(r.starts_by_rung[index(Rung::kDisk)], 1440u / 30 - 1);
  SimResult local = run(t, "fixed10");
  EXPECT_EQ(local.starts_by_rung[index(Rung::kRegistry)], 0u);
  const policy::RungProfile p;
  EXPECT_NEAR(r.latency_mean_ms * r.invocations - local.latency_mean_ms * local.invocations,
              2 * (p.latency_ms[index(Rung::kRegistry)] - p.latency_ms[index(Rung::kDisk)]), 1e-3);
}

TEST(Simulator, AStoreBudgetSendsEvictedCopiesBackToTheRegistry) {
  // Two 512 MB apps taking turns every 15 minutes; each instance is gone 10 minutes after its call.
  Trace t = make_trace({every(30, 1440), every(30, 1440, 15)}, 1440);
  auto sim = [&](double budget_mb) {
    SimOptions opts;
    opts.from_registry = true;
    opts.store_budget_bytes = static_cast<uint64_t>(budget_mb * (1 << 20));
    auto pol = policy::make_policy("fixed10", opts.profile);
    return simulate(t, std::move(*pol), opts);
  };
  // Room for one copy: each fetch evicts the other app's, so every start fetches.
  SimResult one = sim(768);
  EXPECT_EQ(one.starts_by_rung[index(Rung::kRegistry)], 96u);
  EXPECT_EQ(one.store_evictions, 95u);
  // Room for both, or no budget: only the first starts fetch.
  for (double budget : {1100.0, 0.0}) {
    SimResult both = sim(budget);
    EXPECT_EQ(both.starts_by_rung[index(Rung::kRegistry)], 2u) << budget;
    EXPECT_EQ(both.store_evictions, 0u) << budget;
  }
}

TEST(Simulator, AStoreBudgetKeepsCopiesInUse) {
  // The second app's fetch comes while the first one's instance still runs: neither copy goes,
  // though both together are over the budget.
  Trace t = make_trace({every(30, 1440), every(30, 1440, 5)}, 1440);
  SimOptions opts;
  opts.from_registry = true;
  opts.store_budget_bytes = 768u << 20;
  auto pol = policy::make_policy("fixed10", opts.profile);
  SimResult r = simulate(t, std::move(*pol), opts);
  EXPECT_EQ(r.store_evictions, 0u);
  EXPECT_EQ(r.starts_by_rung[index(Rung::kRegistry)], 2u);
}

TEST(Simulator, StrictTimerUnderFixedKeepAlive) {
  Trace t = make_trace({every(5, 1440)}, 1440);
  SimResult ten = run(t, "fixed10");
  EXPECT_EQ(ten.invocations, 288u);
  EXPECT_EQ(ten.starts_by_rung[index(Rung::kDisk)], 1u);  // the first call only
  // Every gap is 5 minutes, less the first call's 400 ms disk start.
  EXPECT_NEAR(ten.idle_seconds[index(Rung::kWarm)], 288 * 300.0 - 0.4, 1e-6);
  EXPECT_NEAR(ten.idle_gb_s, (288 * 300.0 - 0.4) * 0.5, 1e-6);
  SimResult four = run(t, "fixed4");
  EXPECT_EQ(four.starts_by_rung[index(Rung::kDisk)], 288u);
  EXPECT_NEAR(four.idle_seconds[index(Rung::kWarm)], 288 * 240.0, 1e-6);
  EXPECT_NEAR(four.latency_mean_ms, 400.0, 1e-9);
  EXPECT_NEAR(four.cold_pct, 100.0, 1e-9);
  EXPECT_NEAR(ten.latency_p99_ms, 0.0, 1e-9);
}

TEST(Simulator, OneCallADayIsNeverWarmWithoutAForecast) {
  Trace t = make_trace({every(1440, 4 * 1440, 100)}, 4 * 1440);
  for (const char* spec : {"fixed20", "ladder", "gbm"}) {
    SimResult r = run(t, spec);
    EXPECT_EQ(r.invocations, 4u);
    EXPECT_EQ(r.starts_by_rung[index(Rung::kWarm)], 0u) << spec;
  }
}

TEST(Simulator, PoissonArrivalsMatchTheExponentialTail) {
  // P(idle > 10 min) = exp(-1) for a 10-minute mean gap.
  Trace t = make_trace({poisson(10, 30 * 1440, 3)}, 30 * 1440);
  SimResult r = run(t, "fixed10");
  EXPECT_NEAR(r.cold_pct / 100.0, std::exp(-1.0), 0.03);
}

TEST(Simulator, BurstsArePrewarmedByHistoryPolicies) {
  std::vector<double> bursts;
  for (int b = 0; b < 5 * 12; ++b)
    for (int k = 0; k < 20; ++k) bursts.push_back(b * 120.0 + 7 + k * 0.02);
  Trace t = make_trace({bursts}, 5 * 1440);
  SimResult fixed = run(t, "fixed10"), hybrid = run(t, "hybrid"), ladder = run(t, "ladder");
  EXPECT_EQ(fixed.starts_by_rung[index(Rung::kDisk)], 60u);  // one per burst
  EXPECT_LT(hybrid.starts_by_rung[index(Rung::kDisk)], 10u);
  uint64_t ladder_expensive = ladder.starts_by_rung[index(Rung::kPageCache)] + ladder.starts_by_rung[index(Rung::kDisk)];
  EXPECT_LT(ladder_expensive, 10u);
  EXPECT_LT(ladder.idle_gb_s, fixed.idle_gb_s * 3);
}

TEST(Simulator, RequestsDuringAColdStartWaitForIt) {
  // Second call 100 ms after the first: the app is starting (400 ms), so it waits 300 ms.
  Trace t = make_trace({{1.0, 1.0 + 0.1 / 60.0}}, 10, 50.0f);
  SimResult r = run(t, "fixed10");
  EXPECT_EQ(r.concurrent, 1u);
  EXPECT_EQ(r.starts_by_rung[index(Rung::kWarm)], 1u);
  EXPECT_NEAR(r.latency_mean_ms, (400.0 + 300.0) / 2, 1e-3);
  // One instance serves both: busy from 1:00.000 until 400 ms start + 50 ms.
  EXPECT_NEAR(r.busy_seconds, 0.45, 1e-6);
}

TEST(Simulator, EveryInvocationCountedOnceAndTimeAndMemoryConserved) {
  std::vector<std::vector<double>> arrivals = {poisson(3, 2880, 1), poisson(45, 2880, 2), every(17, 2880, 5),
                                               {}, every(1440, 2880, 30), poisson(0.05, 300, 9)};
  Trace t = make_trace(arrivals, 2880, 800.0f, 1024.0);
  SimOptions opts;
  for (const char* spec : {"fixed4", "fixed20", "hybrid", "ladder", "ladder:lambda=1000", "gbm", "spes",
                           "faascache:capacity_gb=2"}) {
    auto p = policy::make_policy(spec, opts.profile);
    ASSERT_TRUE(p.is_ok());
    SimResult r = simulate(t, std::move(*p), opts);
    uint64_t counted = 0;
    for (auto c : r.starts_by_rung) counted += c;
    EXPECT_EQ(counted, t.invocations) << spec;
    EXPECT_EQ(r.invocations, t.invocations) << spec;
    double idle = 0.0;
    for (Rung rung : policy::kAllRungs) {
      idle += r.idle_seconds[index(rung)];
      // 1 GB apps: GB·s at a rung = seconds there x the rung's memory fraction.
      EXPECT_NEAR(r.idle_gb_s_by_rung[index(rung)], r.idle_seconds[index(rung)] * opts.profile.memory_fraction[index(rung)],
                  1e-6 * (1 + r.idle_seconds[index(rung)]))
          << spec;
    }
    EXPECT_NEAR(r.before_first_seconds + r.busy_seconds + idle, r.span_seconds, 1e-6 * r.span_seconds) << spec;
    EXPECT_GE(r.span_seconds, 6 * 2880 * 60.0 - 1e-6);
    EXPECT_NEAR(r.busy_gb_s, r.busy_seconds, 1e-6 * (1 + r.busy_seconds));
    EXPECT_EQ(r.app_cold_pct.size(), 5u);  // apps with requests
    EXPECT_NEAR(r.cost_usd, r.idle_gb_s * opts.price_gb_s, 1e-12);
  }
}

TEST(Simulator, TheCachePolicyHoldsNoMoreThanItsCapacity) {
  // Four 1 GB apps called in turn, each every 40 minutes.
  std::vector<std::vector<double>> arrivals;
  for (int i = 0; i < 4; ++i) arrivals.push_back(every(40, 1440, 10.0 * i));
  Trace t = make_trace(arrivals, 1440, 0.0f, 1024.0);
  SimResult all = run(t, "faascache:capacity_gb=4"), two = run(t, "faascache:capacity_gb=2");
  EXPECT_EQ(all.starts_by_rung[index(Rung::kDisk)], 4u) << "all fit: only first calls are cold";
  // Two fit: every return finds its app evicted by the two calls since, and the evicted app's
  // memory is freed then, not at the end of a keep-alive.
  EXPECT_EQ(two.starts_by_rung[index(Rung::kDisk)], t.invocations);
  EXPECT_LE(two.idle_gb_s, 2 * 1440 * 60.0);
  EXPECT_GT(all.idle_gb_s, 3.5 * 1400 * 60.0);
}

TEST(Simulator, ParallelRunsMatchSequentialOnes) {
  Trace t = make_trace({poisson(5, 1440, 4), every(30, 1440)}, 1440, 100.0f);
  std::vector<std::string> specs = {"fixed4", "hybrid", "ladder", "fixed:keepalive_min=7", "bogus"};
  SimOptions opts;
  auto par = run_specs(t, specs, opts, 2);
  auto seq = run_specs(t, specs, opts, 1);
  ASSERT_EQ(par.size(), specs.size());
  for (size_t i = 0; i + 1 < specs.size(); ++i) {
    ASSERT_TRUE(par[i].is_ok() && seq[i].is_ok());
    auto a = to_json(*par[i], true), b = to_json(*seq[i], true);
    a.erase("runtime_s");
    b.erase("runtime_s");
    EXPECT_EQ(a.dump(), b.dump()) << specs[i];
  }
  EXPECT_FALSE(par.back().is_ok());
}

}  // namespace
}  // namespace thaw::sim
