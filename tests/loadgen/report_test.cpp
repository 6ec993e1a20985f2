#include "loadgen/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace thaw::loadgen {
namespace {

Outcome answered(int64_t sent_ns, int64_t done_ns, int16_t status) {
  Outcome o;
  o.sent_ns = sent_ns;
  o.done_ns = done_ns;
  o.status = status;
  o.failure = Failure::kNone;
  o.attempts = 1;
  return o;
}

Outcome failed(Failure f, int64_t sent_ns, int64_t done_ns) {
  Outcome o;
  o.sent_ns = sent_ns;
  o.done_ns = done_ns;
  o.failure = f;
  return o;
}

TEST(SummarizeRun, CountsAddUpAndWarmupIsExcluded) {
  auto s = parse_schedule("0 a\n0.5 b\n1 a\n1.5 b\n2 a\n2.5 a\n");
  ASSERT_TRUE(s.is_ok());
  s->end_s = 3;
  const int64_t ms = 1'000'000;
  std::vector<Outcome> outcomes = {
      failed(Failure::kConnectRefused, -1, 1 * ms),     // warm-up (offset 0)
      answered(500 * ms, 510 * ms, 200),                // warm-up (offset 0.5)
      answered(1000 * ms, 1004 * ms, 200),              // latency 4 ms, a
      answered(1502 * ms, 1510 * ms, 503),              // 10 ms from schedule, 8 ms from send, b
      failed(Failure::kTimeout, 2000 * ms, 2100 * ms),  // a
      failed(Failure::kQueueTimeout, -1, 2600 * ms),    // a, never sent
  };
  RunStats stats;
  stats.first_error[static_cast<size_t>(Failure::kTimeout)] = "no complete response before the deadline";
  LoadReport r = summarize_run(*s, outcomes, 1.0, stats);
  EXPECT_EQ(r.scheduled, 6u);
  EXPECT_EQ(r.warmup, 2u);
  EXPECT_EQ(r.warmup_errors, 1u);
  EXPECT_EQ(r.measured, 4u);
  uint64_t total = 0;
  for (const auto& [code, n] : r.status_counts) total += n;
  for (const auto& [name, n] : r.error_counts) total += n;
  EXPECT_EQ(total, r.measured);
  EXPECT_EQ(r.status_counts.at(200), 1u);
  EXPECT_EQ(r.status_counts.at(503), 1u);
  EXPECT_EQ(r.error_counts.at("timeout"), 1u);
  EXPECT_EQ(r.error_counts.at("queue_timeout"), 1u);
  EXPECT_EQ(r.error_examples.at("timeout"), "no complete response before the deadline");
  EXPECT_EQ(r.from_schedule.count, 2u);
  EXPECT_EQ(r.from_schedule.min, 4 * ms);
  EXPECT_EQ(r.from_schedule.max, 10 * ms);
  EXPECT_EQ(r.from_send.max, 8 * ms);
  EXPECT_EQ(r.send_lag.count, 3u);  // the queue timeout was never sent
  EXPECT_EQ(r.send_lag.max, 2 * ms);
  EXPECT_DOUBLE_EQ(r.window_s, 2.0);
  EXPECT_DOUBLE_EQ(r.offered_rate, 2.0);
  // Two answers between the window start (1 s) and the last answer (1.51 s).
  EXPECT_NEAR(r.achieved_rate, 2 / 0.51, 1e-9);
  EXPECT_NEAR(r.ok_rate, 1 / 0.004, 1e-6);
  ASSERT_EQ(r.per_model.size(), 2u);
  EXPECT_EQ(r.per_model.at("a").requests, 3u);
  EXPECT_EQ(r.per_model.at("a").ok, 1u);
  EXPECT_EQ(r.per_model.at("b").requests, 1u);
  EXPECT_EQ(r.per_model.at("b").latency.p50, 10 * ms);

  nlohmann::json j = to_json(r, {{"mode", "test"}});
  EXPECT_EQ(j["measured"], 4);
  EXPECT_EQ(j["status_counts"]["503"], 1);
  EXPECT_DOUBLE_EQ(j["latency_from_schedule"]["max_ms"].get<double>(), 10.0);
  EXPECT_EQ(j["run"]["mode"], "test");
  std::string text = to_text(r);
  EXPECT_NE(text.find("queue_timeout: 1"), std::string::npos) << text;
}

TEST(SummarizeRun, NothingMeasured) {
  auto s = constant_rate(10, 1);
  ASSERT_TRUE(s.is_ok());
  std::vector<Outcome> outcomes(s->size(), failed(Failure::kConnectRefused, -1, 0));
  LoadReport r = summarize_run(*s, outcomes, 5.0, RunStats{});
  EXPECT_EQ(r.measured, 0u);
  EXPECT_EQ(r.warmup, 10u);
  EXPECT_EQ(r.offered_rate, 0.0);
  EXPECT_EQ(r.achieved_rate, 0.0);
  EXPECT_EQ(r.from_schedule.count, 0u);
}

}  // namespace
}  // namespace thaw::loadgen
