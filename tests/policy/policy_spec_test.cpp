#include <gtest/gtest.h>

#include "policy/policy_spec.h"

namespace thaw::policy {
namespace {

TEST(PolicySpec, BuildsEveryFamilyAndRoundTrips) {
  RungProfile profile;
  for (const char* s : {"fixed", "fixed4", "fixed10", "fixed20", "fixed:keepalive_min=7", "hybrid",
                        "hybrid:range_min=120,cv=1.5", "gbm", "gbm:hazard=0.1", "ladder", "ladder:lambda=5000,budget_gb=2", "spes",
                        "spes:prewarm_min=1,giveup_scale=4", "faascache", "faascache:capacity_gb=12.5",
                        "faascache:capacity_share=0.25"}) {
    auto p = make_policy(s, profile);
    ASSERT_TRUE(p.is_ok()) << s << ": " << p.status().to_string();
    auto again = make_policy((*p)->spec(), profile);
    ASSERT_TRUE(again.is_ok()) << (*p)->spec();
    EXPECT_EQ((*again)->spec(), (*p)->spec());
  }
  EXPECT_NE(make_policy("fixed4", profile).value()->spec().find("keepalive_min=4"), std::string::npos);
}

TEST(PolicySpec, RejectsBadSpecs) {
  RungProfile profile;
  for (const char* s : {"", "nope", "fixed:keepalive_min", "fixed:keepalive_min=abc", "fixed:keepalive_min=-1",
                        "fixed:speed=3", "hybrid:head=0.9,tail=0.1", "hybrid:range_min=1.5", "ladder:lambda=inf",
                        ":x=1", "gbm:hazard=2", "spes:giveup_scale=-1", "spes:window=3", "faascache:capacity_gb=-2",
                        "faascache:capacity=3", "faascache:capacity_share=2"}) {
    EXPECT_FALSE(make_policy(s, profile).is_ok()) << s;
  }
}

TEST(PolicySpec, SweepsAreValidSpecs) {
  RungProfile profile;
  for (const char* f : {"fixed", "hybrid", "gbm", "ladder", "spes", "faascache"}) {
    auto specs = sweep_specs(f);
    ASSERT_TRUE(specs.is_ok());
    EXPECT_GE(specs->size(), 4u);
    for (const auto& s : *specs) EXPECT_TRUE(make_policy(s, profile).is_ok()) << s;
  }
  EXPECT_FALSE(sweep_specs("nope").is_ok());
}

}  // namespace
}  // namespace thaw::policy
