#include "engine/llm/stop_filter.h"

#include <gtest/gtest.h>

namespace thaw::engine {
namespace {

std::string feed(StopFilter& f, std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (auto p : pieces) out += f.push(p);
  return out + f.flush();
}

TEST(StopFilter, PassesTextThroughWithoutStops) {
  StopFilter f;
  EXPECT_EQ(f.push("hello"), "hello");
  EXPECT_EQ(f.push(" world"), " world");
  EXPECT_EQ(f.flush(), "");
  EXPECT_FALSE(f.stopped());
}

TEST(StopFilter, CutsBeforeAStopSplitAcrossPieces) {
  StopFilter f({"END"});
  EXPECT_EQ(f.push("abc E"), "abc ");  // "E" may start END: held back
  EXPECT_EQ(f.push("N"), "");
  EXPECT_EQ(f.push("Dxyz"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("more"), "");
  EXPECT_EQ(f.flush(), "");
}

TEST(StopFilter, ReleasesAHeldPrefixThatDidNotComplete) {
  StopFilter f({"END"});
  EXPECT_EQ(feed(f, {"abc EN", "X"}), "abc ENX");
  EXPECT_FALSE(f.stopped());
}

TEST(StopFilter, TheEarliestOfSeveralStopsWins) {
  StopFilter f({"bb", "a"});
  EXPECT_EQ(f.push("xxbbya"), "xx");
  EXPECT_TRUE(f.stopped());
}

TEST(StopFilter, HoldsAnIncompleteUtf8SequenceUntilItCompletes) {
  StopFilter f;
  const std::string euro = "\xE2\x82\xAC";
  EXPECT_EQ(f.push("a" + euro.substr(0, 2)), "a");
  EXPECT_EQ(f.push(euro.substr(2)), euro);
  EXPECT_EQ(f.push("\xF0\x9F"), "");
  EXPECT_EQ(f.flush(), "\xEF\xBF\xBD");  // a sequence cut off at the end becomes U+FFFD
}

TEST(StopFilter, EmptyStopStringsAreIgnored) {
  StopFilter f({""});
  EXPECT_EQ(f.push("abc"), "abc");
  EXPECT_FALSE(f.stopped());
}

TEST(IncompleteUtf8Tail, CountsOnlyAnUnfinishedSequence) {
  EXPECT_EQ(incomplete_utf8_tail(""), 0u);
  EXPECT_EQ(incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("\xC3"), 1u);
  EXPECT_EQ(incomplete_utf8_tail("\xC3\xA9"), 0u);
  EXPECT_EQ(incomplete_utf8_tail("x\xF0\x9F\x98"), 3u);
  EXPECT_EQ(incomplete_utf8_tail("\x80\x80"), 0u);
}

}  // namespace
}  // namespace thaw::engine
