#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "policy/rung.h"

namespace thaw::policy {
namespace {

TEST(RungProfile, ShippedProfileParses) {
  std::ifstream in(std::string(THAW_SOURCE_DIR) + "/profiles/default-rungs.yaml");
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto p = parse_rung_profile(ss.str());
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  RungProfile builtin;
  for (int i = 0; i < kRungCount; ++i) {
    EXPECT_DOUBLE_EQ(p->latency_ms[i], builtin.latency_ms[i]);
    EXPECT_DOUBLE_EQ(p->memory_fraction[i], builtin.memory_fraction[i]);
  }
  EXPECT_DOUBLE_EQ(p->memory_gb(Rung::kWarm, 1024.0), 1.0);
  EXPECT_DOUBLE_EQ(p->latency_s(Rung::kDisk), p->latency_ms[3] / 1000.0);
}

TEST(RungProfile, RejectsBadProfiles) {
  const char* good_tail =
      "  zygote: {latency_ms: 3, memory_fraction: 0.6}\n"
      "  page_cache: {latency_ms: 40, memory_fraction: 0.3}\n"
      "  disk: {latency_ms: 400, memory_fraction: 0}\n";
  EXPECT_TRUE(parse_rung_profile(std::string("rungs:\n  warm: {latency_ms: 0, memory_fraction: 1}\n") + good_tail).is_ok());
  // Missing rung, wrong order, negative, disk holding memory, not YAML, not a map.
  EXPECT_FALSE(parse_rung_profile(good_tail).is_ok());
  EXPECT_FALSE(parse_rung_profile(std::string("rungs:\n  warm: {latency_ms: 50, memory_fraction: 1}\n") + good_tail).is_ok());
  EXPECT_FALSE(parse_rung_profile(std::string("rungs:\n  warm: {latency_ms: -1, memory_fraction: 1}\n") + good_tail).is_ok());
  EXPECT_FALSE(parse_rung_profile(
                   "rungs:\n  warm: {latency_ms: 0, memory_fraction: 1}\n  zygote: {latency_ms: 3, memory_fraction: 0.6}\n"
                   "  page_cache: {latency_ms: 40, memory_fraction: 0.3}\n  disk: {latency_ms: 400, memory_fraction: 0.1}\n")
                   .is_ok());
  EXPECT_FALSE(parse_rung_profile("rungs: [unclosed").is_ok());
  EXPECT_FALSE(parse_rung_profile("- 1\n- 2\n").is_ok());
  EXPECT_FALSE(parse_rung_profile("rungs:\n  warm: {latency_ms: abc, memory_fraction: 1}\n").is_ok());
}

TEST(RungProfile, TheRegistryRungDefaultsBelowDiskAndHoldsNoMemory) {
  const std::string base =
      "rungs:\n  warm: {latency_ms: 0, memory_fraction: 1}\n  zygote: {latency_ms: 3, memory_fraction: 0.6}\n"
      "  page_cache: {latency_ms: 40, memory_fraction: 0.3}\n  disk: {latency_ms: 500, memory_fraction: 0}\n";
  auto p = parse_rung_profile(base);
  ASSERT_TRUE(p.is_ok());
  const RungProfile builtin;
  EXPECT_DOUBLE_EQ(p->latency_ms[index(Rung::kRegistry)],
                   500 + builtin.latency_ms[index(Rung::kRegistry)] - builtin.latency_ms[index(Rung::kDisk)]);
  auto given = parse_rung_profile(base + "  registry: {latency_ms: 2500, memory_fraction: 0}\n");
  ASSERT_TRUE(given.is_ok());
  EXPECT_DOUBLE_EQ(given->latency_ms[index(Rung::kRegistry)], 2500);
  EXPECT_FALSE(parse_rung_profile(base + "  registry: {latency_ms: 2500, memory_fraction: 0.1}\n").is_ok());
  EXPECT_FALSE(parse_rung_profile(base + "  registry: {latency_ms: 100, memory_fraction: 0}\n").is_ok());
  EXPECT_EQ(rung_name(Rung::kRegistry), "registry");
  EXPECT_TRUE(is_expensive(Rung::kRegistry));
}

TEST(RungProfile, LoadsTheShippedProfilesAndNamesMissingOnes) {
  for (const char* name : {"default-rungs.yaml", "minilm-measured.yaml"}) {
    auto p = load_rung_profile(std::string(THAW_SOURCE_DIR) + "/profiles/" + name);
    ASSERT_TRUE(p.is_ok()) << name << ": " << p.status().to_string();
    EXPECT_GT(p->latency_ms[index(Rung::kDisk)], p->latency_ms[index(Rung::kZygote)]);
  }
  auto missing = load_rung_profile("/nonexistent/profile.yaml");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace thaw::policy
