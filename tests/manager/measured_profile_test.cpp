#include "manager/measured_profile.h"

#include <gtest/gtest.h>

namespace thaw::manager {
namespace {

using policy::index;
using policy::Rung;

RungMeasurements model(std::string name, double disk_ms, uint64_t disk_starts, uint64_t warm, uint64_t zygote) {
  RungMeasurements m;
  m.model = std::move(name);
  m.starts[index(Rung::kDisk)] = disk_starts;
  m.start_seconds[index(Rung::kDisk)] = disk_ms / 1000.0 * static_cast<double>(disk_starts);
  m.warm_bytes = warm;
  m.zygote_bytes = zygote;
  return m;
}

TEST(MeasuredProfile, MeasuredRungsReplaceTheBaseAndTheRestStay) {
  const policy::RungProfile base;
  RungMeasurements m = model("m", 120.0, 3, 200, 50);
  m.page_cache_bytes = 300;  // a bundle larger than what a process maps of it
  policy::RungProfile p = measured_profile(m, base, 0);
  EXPECT_DOUBLE_EQ(p.latency_ms[index(Rung::kDisk)], 120.0);
  EXPECT_DOUBLE_EQ(p.latency_ms[index(Rung::kZygote)], base.latency_ms[index(Rung::kZygote)]);
  EXPECT_DOUBLE_EQ(p.memory_fraction[index(Rung::kZygote)], 0.25);
  EXPECT_DOUBLE_EQ(p.memory_fraction[index(Rung::kPageCache)], 1.5);
  EXPECT_TRUE(policy::parse_rung_profile("rungs:\n" + policy::rungs_yaml(p, 2)).is_ok());
}

TEST(MeasuredProfile, LatencyNeverFallsDownTheLadder) {
  // A disk start measured faster than the page-cache estimate is raised to it.
  policy::RungProfile p = measured_profile(model("m", 10.0, 1, 0, 0), policy::RungProfile{}, 100);
  EXPECT_DOUBLE_EQ(p.latency_ms[index(Rung::kDisk)], p.latency_ms[index(Rung::kPageCache)]);
}

TEST(MeasuredProfile, OverallPoolsStartsAndWeighsMemoryByModelSize) {
  std::vector<RungMeasurements> all = {model("a", 100.0, 1, 100, 50), model("b", 400.0, 3, 300, 0),
                                       model("c", 0.0, 0, 100, 90)};
  policy::RungProfile p = overall_profile(all, policy::RungProfile{});
  EXPECT_DOUBLE_EQ(p.latency_ms[index(Rung::kDisk)], (100.0 + 3 * 400.0) / 4);
  EXPECT_DOUBLE_EQ(p.memory_fraction[index(Rung::kZygote)], (50.0 + 90.0) / (100.0 + 100.0));
  const std::string yaml = profile_yaml(all, policy::RungProfile{});
  auto back = policy::parse_rung_profile(yaml);
  ASSERT_TRUE(back.is_ok()) << yaml;
  EXPECT_NEAR(back->latency_ms[index(Rung::kDisk)], 325.0, 1e-9);
  for (const char* name : {"\"a\":", "\"b\":", "\"c\":"}) EXPECT_NE(yaml.find(name), std::string::npos) << name;
}

}  // namespace
}  // namespace thaw::manager
