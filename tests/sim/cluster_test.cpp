#include "sim/cluster.h"

#include <gtest/gtest.h>

#include "sim/knative_baseline.h"
#include "sim/pod_scaler.h"
#include "sim/synth_trace.h"

namespace thaw::sim {
namespace {

constexpr int64_t kSec = 1'000'000;

Trace one_app(const std::vector<double>& arrivals_s, double horizon_s, float duration_ms = 100.0f) {
  Trace t;
  t.format = "synthetic";
  t.horizon = std::chrono::microseconds(static_cast<int64_t>(horizon_s * kSec));
  TraceApp a;
  a.id = "app";
  a.memory_mb = 1024;
  for (double s : arrivals_s) {
    a.arrival_us.push_back(static_cast<int64_t>(s * kSec));
    a.duration_ms.push_back(duration_ms);
  }
  t.invocations = a.arrival_us.size();
  t.apps.push_back(a);
  return t;
}

KnativeOptions fixed_start(double ms) {
  KnativeOptions o;
  o.pod_start_min_ms = o.pod_start_max_ms = ms;
  o.model_load_ms = 0;
  return o;
}

TEST(KnativeBaseline, ScalesToZeroAfterTheWindowOnly) {
  // 59 s apart: the pod stays; then 61 s after the last one finished: a second scale from zero.
  Trace t = one_app({0, 59, 118, 179.2}, 600, 100.0f);
  KnativeResult r = simulate_knative(t, fixed_start(1000));
  EXPECT_EQ(r.pod_starts, 2u);
  EXPECT_EQ(r.cold_requests, 2u);
  ASSERT_EQ(r.added_ms.size(), 4u);
  EXPECT_NEAR(r.added_ms[0], 1000.0, 1e-3);
  EXPECT_EQ(r.added_ms[1], 0.0f);
  EXPECT_EQ(r.added_ms[2], 0.0f);
  EXPECT_NEAR(r.added_ms[3], 1000.0, 1e-3);
  // Memory: 1 GB while a pod lives: [0, 118.1 + 60) then [179.2, 179.2 + 1 + 0.1 + 60).
  EXPECT_NEAR(r.node_gb_s[0], (118.1 + 60) + (1.1 + 60), 1e-3);
}

TEST(KnativeBaseline, AWindowOfZeroStartsEveryRequestCold) {
  KnativeOptions o = fixed_start(800);
  o.window_s = 0;
  KnativeResult r = simulate_knative(one_app({0, 10, 20}, 60), o);
  EXPECT_EQ(r.pod_starts, 3u);
}

TEST(KnativeBaseline, PodStartsAreDrawnFromTheRangeAndSeeded) {
  std::vector<double> arr;
  for (int i = 0; i < 200; ++i) arr.push_back(i * 100.0);  // 100 s apart: every one from zero
  KnativeOptions o;
  o.model_load_ms = 0;
  KnativeResult a = simulate_knative(one_app(arr, 20000), o), b = simulate_knative(one_app(arr, 20000), o);
  EXPECT_EQ(a.added_ms, b.added_ms);
  for (float ms : a.added_ms) {
    EXPECT_GE(ms, 800.0f - 1e-3f);
    EXPECT_LE(ms, 4000.0f + 1e-3f);
  }
  o.seed = 7;
  EXPECT_NE(a.added_ms, simulate_knative(one_app(arr, 20000), o).added_ms);
}

TEST(PodScaler, AddsAPodWhenDemandPassesTheTargetAndRemovesItAfterTheCooldown) {
  PodScalerOptions o;
  o.min_pods = 1;
  o.target_per_pod = 2;
  o.hard_limit = true;
  o.sync_s = 15;
  o.pod_start_ms = 1000;
  o.cooldown_s = 300;
  // Three 60 s requests at once: the third waits for the HPA's look (15 s) and a pod (1 s).
  std::vector<PodRequest> reqs = {{0, 60000}, {0, 60000}, {0, 60000}};
  PodScalerResult r = scale_pods(reqs, 1000 * kSec, o);
  EXPECT_EQ(r.pod_starts, 1u);
  EXPECT_EQ(r.max_pods, 2);
  EXPECT_EQ(r.wait_ms[0], 0.0f);
  EXPECT_NEAR(r.wait_ms[2], 16000.0, 1e-3);
  // Two pods from 15 s until the demand fits in one (60 s: the first two end) + 300 s of cooldown.
  EXPECT_NEAR(r.pod_seconds, 1000 + (60 + 300 - 15), 1e-6);
  ASSERT_EQ(r.pods.size(), 2u);
}

TEST(PodScaler, ASoftTargetSizesThePodsWithoutHoldingRequests) {
  PodScalerOptions o;
  o.min_pods = 1;
  o.target_per_pod = 2;
  o.pod_start_ms = 1000;
  o.cooldown_s = 300;
  std::vector<PodRequest> reqs = {{0, 60000}, {0, 60000}, {0, 60000}};
  PodScalerResult r = scale_pods(reqs, 1000 * kSec, o);
  for (float w : r.wait_ms) EXPECT_EQ(w, 0.0f);
  EXPECT_EQ(r.waited, 0u);
  EXPECT_EQ(r.pod_starts, 1u);  // still asked for at the HPA's look
  EXPECT_NEAR(r.pod_seconds, 1000 + (60 + 300 - 15), 1e-6);
}

TEST(PodScaler, NoPodFromZeroIsStartedAtOnce) {
  PodScalerOptions o;
  o.min_pods = 0;
  o.sync_s = 15;
  o.pod_start_ms = 500;
  o.cooldown_s = 60;
  PodScalerResult r = scale_pods({{10 * kSec, 10}}, 100 * kSec, o);
  EXPECT_EQ(r.from_zero, 1u);
  EXPECT_NEAR(r.wait_ms[0], 500.0, 1e-3);  // no wait for the HPA's look: the activator asks
  ASSERT_EQ(r.pods.size(), 1u);
  EXPECT_EQ(r.pods[0].end_us, 10 * kSec + 510'000 + 60 * kSec);
}

Trace sample(size_t apps, double minutes, uint64_t seed) {
  Trace t;
  t.format = "synthetic";
  t.horizon = std::chrono::microseconds(static_cast<int64_t>(minutes * 60 * kSec));
  uint64_t x = seed;
  for (size_t i = 0; i < apps; ++i) {
    TraceApp a;
    a.id = "a" + std::to_string(i);
    a.memory_mb = 100 + static_cast<double>(i % 5) * 200;
    const int64_t gap = static_cast<int64_t>((1 + i % 13) * 37) * kSec;
    for (int64_t at = static_cast<int64_t>(i) * kSec; at < static_cast<int64_t>(minutes * 60) * kSec;
         at += gap) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      a.arrival_us.push_back(at + static_cast<int64_t>(x >> 44));
      a.duration_ms.push_back(50.0f + static_cast<float>(x % 500));
    }
    std::sort(a.arrival_us.begin(), a.arrival_us.end());
    t.invocations += a.arrival_us.size();
    t.apps.push_back(std::move(a));
  }
  return t;
}

TEST(Cluster, SameSeedSameResult) {
  Trace t = sample(40, 120, 3);
  ClusterOptions o;
  o.nodes = 4;
  o.node_memory_gb = 8;
  auto a = simulate_cluster(t, o), b = simulate_cluster(t, o);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  nlohmann::json ja = to_json(*a), jb = to_json(*b);
  ja.erase("runtime_s");
  jb.erase("runtime_s");
  EXPECT_EQ(ja, jb);
  EXPECT_EQ(a->thaw.invocations, t.invocations);
  EXPECT_EQ(a->knative.invocations, t.invocations);
  size_t placed = 0;
  for (size_t n : a->thaw.models_per_node) placed += n;
  EXPECT_EQ(placed, 40u);
  o.knative.seed = 99;
  auto c = simulate_cluster(t, o);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE(c->knative.latency_mean_ms, a->knative.latency_mean_ms);
}

TEST(Cluster, ThawStartsFewerColdThanKnativeOnSparseTraffic) {
  // Calls every few minutes: past Knative's 60 s window, within the ladder's reach.
  Trace t = sample(20, 240, 5);
  ClusterOptions o;
  o.nodes = 2;
  o.node_memory_gb = 32;
  auto r = simulate_cluster(t, o);
  ASSERT_TRUE(r.is_ok());
  EXPECT_GT(r->knative.cold_requests, 0u);
  EXPECT_LT(r->thaw.expensive_requests, r->knative.expensive_requests);
  // The start latency of the requests that waited: a Knative pod start is 0.8-4 s + the load.
  EXPECT_GE(r->knative.waited_p50_ms, 800.0);
  EXPECT_LE(r->knative.waited_p99_ms, 4000.0 + 400.0 + 1.0);
  EXPECT_LE(r->thaw.waited_p99_ms, 400.0 + 1.0);  // the profile's disk rung at worst
}

TEST(Cluster, BadArgumentsAreErrors) {
  Trace t = sample(2, 10, 1);
  ClusterOptions o;
  o.nodes = 0;
  EXPECT_FALSE(simulate_cluster(t, o).is_ok());
  o.nodes = 1;
  o.policy = "no-such-policy";
  EXPECT_FALSE(simulate_cluster(t, o).is_ok());
}

TEST(SynthTrace, GrowsFromTheTraceAndIsSeeded) {
  Trace t = sample(10, 60, 2);
  Trace g = grow_trace(t, {100, 1, 60});
  ASSERT_EQ(g.apps.size(), 100u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(g.apps[i].arrival_us, t.apps[i].arrival_us);
  uint64_t inv = 0;
  for (size_t i = 10; i < 100; ++i) {
    EXPECT_EQ(g.apps[i].id.rfind("synth-", 0), 0u);
    EXPECT_TRUE(std::is_sorted(g.apps[i].arrival_us.begin(), g.apps[i].arrival_us.end()));
    EXPECT_EQ(g.apps[i].arrival_us.size(), g.apps[i].duration_ms.size());
    for (int64_t a : g.apps[i].arrival_us) EXPECT_LT(a, 60 * 60 * kSec);
  }
  for (auto& a : g.apps) inv += a.arrival_us.size();
  EXPECT_EQ(inv, g.invocations);
  Trace again = grow_trace(t, {100, 1, 60});
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(again.apps[i].arrival_us, g.apps[i].arrival_us);
  EXPECT_EQ(grow_trace(t, {5, 1, 60}).apps.size(), 5u);
}

TEST(SynthTrace, CutKeepsTheFirstMinutes) {
  Trace t = sample(5, 60, 2);
  Trace c = cut_trace(t, 10);
  EXPECT_EQ(c.horizon, std::chrono::minutes(10));
  for (auto& a : c.apps)
    for (int64_t at : a.arrival_us) EXPECT_LT(at, 600 * kSec);
}

}  // namespace
}  // namespace thaw::sim
