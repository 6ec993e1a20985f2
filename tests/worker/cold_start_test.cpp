#include "worker/cold_start.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/prometheus.h"

namespace thaw::worker {
namespace {
using namespace std::chrono_literals;

TEST(ColdStart, PhasesAreMeasuredFromTheMarkBefore) {
  ManualClock clock(Nanos{1'000'000'000});
  ColdStartTimeline t(clock, ExecTime{Nanos{990'000'000}, ExecTimeSource::kEnv});
  t.mark("main");          // 10 ms after exec
  clock.advance(5ms);
  t.mark("bundle_open");
  clock.advance(20ms);
  t.mark("session_create");
  clock.advance(1ms);
  t.mark("ready");
  t.mark("ready");  // ignored
  auto j = t.to_json();
  EXPECT_DOUBLE_EQ(j["exec_to_main_ms"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(j["bundle_open_ms"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(j["session_create_ms"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(j["exec_to_ready_ms"].get<double>(), 36.0);
  EXPECT_EQ(j["exec_time_source"], "env");
  EXPECT_FALSE(j.contains("exec_to_first_response_ms"));
  EXPECT_EQ(t.phase_seconds().size(), 4u);
}

TEST(ColdStart, UnknownExecTimeSkipsExecRelativeNumbers) {
  ManualClock clock;
  ColdStartTimeline t(clock, ExecTime{});
  t.mark("main");
  clock.advance(3ms);
  t.mark("ready");
  auto j = t.to_json();
  EXPECT_FALSE(j.contains("exec_to_main_ms"));
  EXPECT_FALSE(j.contains("exec_to_ready_ms"));
  EXPECT_DOUBLE_EQ(j["ready_ms"].get<double>(), 3.0);
}

TEST(ColdStart, ExecTimeFromEnvOrProc) {
  auto env = find_exec_time("123456789");
  EXPECT_EQ(env.source, ExecTimeSource::kEnv);
  EXPECT_EQ(env.at, Nanos{123456789});
  auto proc = find_exec_time(nullptr);
  EXPECT_EQ(proc.source, ExecTimeSource::kProcStat);
  BootClock boot;
  EXPECT_LE(proc.at, boot.now());
  EXPECT_GT(proc.at, Nanos{0});
  EXPECT_EQ(find_exec_time("12x").source, ExecTimeSource::kProcStat);
}

TEST(Prometheus, TextFormat) {
  http::Histogram h({0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  http::PrometheusText out;
  out.family("x_seconds", "histogram", "Test.");
  out.histogram("x_seconds", {{"m", "a\"b"}}, h.snapshot());
  out.family("up", "gauge", "Up.");
  out.sample("up", {}, 1);
  std::string expected =
      "# HELP x_seconds Test.\n# TYPE x_seconds histogram\n"
      "x_seconds_bucket{m=\"a\\\"b\",le=\"0.1\"} 1\n"
      "x_seconds_bucket{m=\"a\\\"b\",le=\"1\"} 2\n"
      "x_seconds_bucket{m=\"a\\\"b\",le=\"+Inf\"} 3\n"
      "x_seconds_sum{m=\"a\\\"b\"} 5.55\n"
      "x_seconds_count{m=\"a\\\"b\"} 3\n"
      "# HELP up Up.\n# TYPE up gauge\nup 1\n";
  EXPECT_EQ(out.text(), expected);
}

}  // namespace
}  // namespace thaw::worker
