#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "sim/trace.h"

namespace thaw::sim {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/thaw-sim-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ + "/" + name) << text; }

 private:
  std::string path_;
};

std::string header(int minutes, bool trigger) {
  std::string h = trigger ? "HashOwner,HashApp,HashFunction,Trigger" : "HashFunction,HashApp,HashOwner";
  for (int m = 1; m <= minutes; ++m) h += ",minute_" + std::to_string(m);
  return h + "\n";
}

TEST(Azure2019, ReadsCountsSpreadsWithinTheMinuteAndMergesFunctionsOfAnApp) {
  for (bool trigger : {false, true}) {
    TempDir d;
    std::string inv = header(3, trigger);
    if (trigger) {
      inv += "o1,a1,f1,http,2,0,1\n";
      inv += "o1,a1,f2,timer,0,3,0\n";
      inv += "o2,a2,f3,queue,0,0,0\n";
    } else {
      inv += "f1,a1,o1,2,0,1\nf2,a1,o1,0,3,0\nf3,a2,o2,0,0,0\n";
    }
    d.write("invocations.csv", inv);
    d.write("durations.csv", "HashFunction,HashApp,HashOwner,Count,Average\nf1,a1,o1,3,100\nf2,a1,o1,3,2500\n");
    d.write("memory.csv", "HashApp,HashOwner,SampleCount,AverageAllocatedMb\na1,o1,5,300\n");
    TraceOptions opts;
    opts.default_memory_mb = 123;
    auto t = read_azure2019(d.path(), opts);
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    EXPECT_EQ(t->horizon, std::chrono::minutes(3));
    ASSERT_EQ(t->apps.size(), 2u);
    EXPECT_EQ(t->invocations, 6u);
    const TraceApp& a1 = t->apps[0];
    EXPECT_EQ(a1.id, "a1");
    EXPECT_DOUBLE_EQ(a1.memory_mb, 300);
    EXPECT_DOUBLE_EQ(t->apps[1].memory_mb, 123);
    ASSERT_EQ(a1.arrival_us.size(), 6u);
    EXPECT_TRUE(std::is_sorted(a1.arrival_us.begin(), a1.arrival_us.end()));
    // Minute 0 has f1's two calls, one per half minute; minute 1 has f2's three.
    EXPECT_LT(a1.arrival_us[0], 30'000'000);
    EXPECT_GE(a1.arrival_us[1], 30'000'000);
    EXPECT_LT(a1.arrival_us[1], 60'000'000);
    EXPECT_FLOAT_EQ(a1.duration_ms[0], 100);
    for (int i = 2; i < 5; ++i) {
      EXPECT_GE(a1.arrival_us[i], 60'000'000 + (i - 2) * 20'000'000);
      EXPECT_LT(a1.arrival_us[i], 60'000'000 + (i - 1) * 20'000'000);
      EXPECT_FLOAT_EQ(a1.duration_ms[i], 2500);
    }
    EXPECT_GE(a1.arrival_us[5], 120'000'000);
  }
}

TEST(Azure2019, SpreadingIsSeeded) {
  TempDir d;
  d.write("invocations.csv", header(2, false) + "f1,a1,o1,50,7\n");
  TraceOptions a, b;
  a.seed = b.seed = 42;
  auto t1 = read_azure2019(d.path(), a), t2 = read_azure2019(d.path(), b);
  b.seed = 43;
  auto t3 = read_azure2019(d.path(), b);
  ASSERT_TRUE(t1.is_ok() && t2.is_ok() && t3.is_ok());
  EXPECT_EQ(t1->apps[0].arrival_us, t2->apps[0].arrival_us);
  EXPECT_NE(t1->apps[0].arrival_us, t3->apps[0].arrival_us);
}

TEST(Azure2019, ReadsTheExcerptOfTheRealSample) {
  auto t = read_trace(std::string(THAW_SOURCE_DIR) + "/tests/data/azure2019-excerpt", TraceOptions{});
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->apps.size(), 5u);
  EXPECT_EQ(t->horizon, std::chrono::minutes(1440));
  EXPECT_EQ(t->invocations, 1u + 396 + 1342 + 14 + 70);
  for (const auto& a : t->apps) {
    EXPECT_GT(a.memory_mb, 0.0);
    EXPECT_EQ(a.arrival_us.size(), a.duration_ms.size());
  }
}

TEST(Azure2019, BadInputIsAClearError) {
  EXPECT_EQ(read_azure2019("/nonexistent/dir", {}).status().code(), Code::kNotFound);
  TempDir empty;
  EXPECT_EQ(read_azure2019(empty.path(), {}).status().code(), Code::kNotFound);
  auto bad = [](const std::string& inv) {
    TempDir d;
    d.write("invocations.csv", inv);
    return read_azure2019(d.path(), {}).status();
  };
  EXPECT_EQ(bad("").code(), Code::kCorrupt);
  EXPECT_EQ(bad("a,b,c\n").code(), Code::kCorrupt);                         // no HashFunction
  EXPECT_EQ(bad("HashFunction,HashApp,HashOwner\nf,a,o\n").code(), Code::kCorrupt);  // no minutes
  EXPECT_EQ(bad(header(2, false) + "f,a,o,1,x\n").code(), Code::kCorrupt);   // bad count
  EXPECT_EQ(bad(header(2, false) + "f,a,o,-1,0\n").code(), Code::kCorrupt);  // negative count
  EXPECT_EQ(bad(header(3, false) + "f,a,o,1\n").code(), Code::kCorrupt);     // short row
  TempDir d;
  d.write("invocations.csv", header(1, false) + "f,a,o,1\n");
  d.write("memory.csv", "HashApp,AverageAllocatedMb\na,lots\n");
  EXPECT_EQ(read_azure2019(d.path(), {}).status().code(), Code::kCorrupt);
}

TEST(Azure2021, ReadsPerInvocationRows) {
  TempDir d;
  d.write("trace.csv",
          "app,func,end_timestamp,duration\n"
          "x,f1,130.5,0.5\n"
          "y,f2,10.0,2.0\n"
          "x,f3,61.0,1.0\n");
  auto t = read_trace(d.path() + "/trace.csv", TraceOptions{});
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->format, "azure2021");
  ASSERT_EQ(t->apps.size(), 2u);
  EXPECT_EQ(t->invocations, 3u);
  EXPECT_EQ(t->horizon, std::chrono::minutes(3));
  const TraceApp& x = t->apps[0];
  ASSERT_EQ(x.arrival_us.size(), 2u);
  EXPECT_EQ(x.arrival_us[0], 60'000'000);
  EXPECT_EQ(x.arrival_us[1], 130'000'000);
  EXPECT_FLOAT_EQ(x.duration_ms[1], 500.0f);
}

TEST(Azure2021, BadInputIsAClearError) {
  TempDir d;
  d.write("a.csv", "app,func,end,duration\nx,f,1,1\n");
  d.write("b.csv", "app,func,end_timestamp,duration\nx,f,abc,1\n");
  d.write("c.csv", "app,func,end_timestamp,duration\nx,f,10,-1\n");
  d.write("d.csv", "app,func,end_timestamp,duration\nx,f\n");
  for (const char* f : {"a.csv", "b.csv", "c.csv", "d.csv"})
    EXPECT_EQ(read_trace(d.path() + "/" + f, {}).status().code(), Code::kCorrupt) << f;
  EXPECT_EQ(read_trace(d.path() + "/missing.csv", {}).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace thaw::sim
