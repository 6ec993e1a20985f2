#include "cache/version_index.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace thaw::cache {
namespace {

using namespace std::chrono_literals;
using Chunks = std::vector<std::pair<std::string, uint64_t>>;

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(VersionIndexTest, KeepsLastNVersionsPerModelByLastUse) {
  ManualClock clock;
  VersionIndex index(clock, {.max_versions_per_model = 2, .byte_budget = 1 << 30});
  index.add("m", "1", 10, {{"a", 100}});
  clock.advance(1s);
  index.add("m", "2", 10, {{"b", 100}});
  clock.advance(1s);
  index.add("other", "1", 10, {{"c", 100}});
  clock.advance(1s);
  index.touch("m", "1");  // now v2 is the least recently used of m
  clock.advance(1s);
  index.add("m", "3", 10, {{"d", 100}});
  Eviction e = index.evict();
  ASSERT_EQ(e.versions.size(), 1u);
  EXPECT_EQ(e.versions[0], std::make_pair(std::string("m"), std::string("2")));
  EXPECT_EQ(e.chunks, std::vector<std::string>{"b"});
  EXPECT_TRUE(index.contains("m", "1"));
  EXPECT_TRUE(index.contains("other", "1"));
  EXPECT_EQ(index.bytes(), 3u * 110);
}

TEST(VersionIndexTest, SharedChunksCountOnceAndOutliveOneVersion) {
  ManualClock clock;
  VersionIndex index(clock, {.max_versions_per_model = 1, .byte_budget = 1 << 30});
  index.add("m", "1", 0, {{"a", 100}, {"b", 100}, {"a", 100}});
  EXPECT_EQ(index.bytes(), 200u);
  clock.advance(1s);
  index.add("m", "2", 0, {{"a", 100}, {"c", 100}});
  EXPECT_EQ(index.bytes(), 300u);
  EXPECT_EQ(index.references("a"), 2);
  Eviction e = index.evict();
  EXPECT_EQ(e.chunks, std::vector<std::string>{"b"});
  EXPECT_EQ(index.references("a"), 1);
  EXPECT_EQ(index.bytes(), 200u);
}

TEST(VersionIndexTest, ByteBudgetEvictsLeastRecentlyUsedAcrossModels) {
  ManualClock clock;
  VersionIndex index(clock, {.max_versions_per_model = 10, .byte_budget = 250});
  index.add("x", "1", 0, {{"a", 100}});
  clock.advance(1s);
  index.add("y", "1", 0, {{"b", 100}});
  clock.advance(1s);
  index.touch("x", "1");
  clock.advance(1s);
  index.add("z", "1", 0, {{"c", 100}});
  Eviction e = index.evict();
  ASSERT_EQ(e.versions.size(), 1u);
  EXPECT_EQ(e.versions[0].first, "y");
  EXPECT_LE(index.bytes(), 250u);
}

TEST(VersionIndexTest, PinnedAndLeasedVersionsSurvive) {
  ManualClock clock;
  VersionIndex index(clock, {.max_versions_per_model = 1, .byte_budget = 100});
  index.add("m", "1", 0, {{"a", 100}});
  ASSERT_TRUE(index.set_pinned("m", "1", true).is_ok());
  clock.advance(1s);
  index.add("m", "2", 0, {{"b", 100}});
  ASSERT_TRUE(index.acquire("m", "2"));
  Eviction e = index.evict();
  EXPECT_TRUE(e.versions.empty());
  EXPECT_EQ(index.size(), 2u);
  index.release("m", "2");
  e = index.evict();  // over the byte budget: the unpinned one goes
  ASSERT_EQ(e.versions.size(), 1u);
  EXPECT_EQ(e.versions[0].second, "2");
  EXPECT_TRUE(has(e.chunks, "b"));
  EXPECT_EQ(index.set_pinned("m", "9", true).code(), Code::kNotFound);
  ASSERT_TRUE(index.set_pinned("m", "1", false).is_ok());
  clock.advance(1s);
  index.add("m", "3", 0, {{"c", 50}});
  e = index.evict();
  ASSERT_EQ(e.versions.size(), 1u);
  EXPECT_EQ(e.versions[0].second, "1");
}

TEST(VersionIndexTest, PinnedVersionsDoNotCountAgainstTheVersionCap) {
  ManualClock clock;
  VersionIndex index(clock, {.max_versions_per_model = 1, .byte_budget = 1 << 30});
  index.add("m", "1", 0, {{"a", 100}});
  ASSERT_TRUE(index.set_pinned("m", "1", true).is_ok());
  clock.advance(1s);
  index.add("m", "2", 0, {{"b", 100}});
  EXPECT_TRUE(index.evict().versions.empty());
  clock.advance(1s);
  index.add("m", "3", 0, {{"c", 100}});
  Eviction e = index.evict();
  ASSERT_EQ(e.versions.size(), 1u);
  EXPECT_EQ(e.versions[0].second, "2");
}

TEST(VersionIndexTest, RemoveDropsUnlessLeased) {
  ManualClock clock;
  VersionIndex index(clock, {});
  index.add("m", "1", 5, {{"a", 100}});
  index.acquire("m", "1");
  EXPECT_TRUE(index.remove("m", "1").versions.empty());
  index.release("m", "1");
  Eviction e = index.remove("m", "1");
  EXPECT_EQ(e.chunks, std::vector<std::string>{"a"});
  EXPECT_EQ(index.bytes(), 0u);
  EXPECT_FALSE(index.touch("m", "1"));
}

}  // namespace
}  // namespace thaw::cache
