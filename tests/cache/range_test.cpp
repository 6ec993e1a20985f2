#include <gtest/gtest.h>

#include "cache/stream_server.h"
#include "cache/upstream.h"

namespace thaw::cache {
namespace {

TEST(ParseRangeTest, SingleRanges) {
  auto r = parse_range("bytes=0-99", 1000);
  ASSERT_TRUE(r.is_ok() && r->has_value());
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->last, 99u);
  r = parse_range("bytes=900-", 1000);
  EXPECT_EQ((*r)->first, 900u);
  EXPECT_EQ((*r)->last, 999u);
  r = parse_range("bytes=-10", 1000);
  EXPECT_EQ((*r)->first, 990u);
  EXPECT_EQ((*r)->last, 999u);
  r = parse_range("bytes=990-5000", 1000);
  EXPECT_EQ((*r)->last, 999u);
  r = parse_range("bytes=-5000", 1000);
  EXPECT_EQ((*r)->first, 0u);
}

TEST(ParseRangeTest, AbsentOrMultipleMeansWholeBody) {
  EXPECT_FALSE(parse_range(std::nullopt, 10)->has_value());
  EXPECT_FALSE(parse_range("bytes=0-1,5-6", 10)->has_value());
  EXPECT_FALSE(parse_range("items=0-1", 10)->has_value());
}

TEST(ParseRangeTest, UnsatisfiableOrMalformedIsAnError) {
  EXPECT_FALSE(parse_range("bytes=1000-", 1000).is_ok());
  EXPECT_FALSE(parse_range("bytes=5-2", 1000).is_ok());
  EXPECT_FALSE(parse_range("bytes=abc", 1000).is_ok());
  EXPECT_FALSE(parse_range("bytes=-0", 1000).is_ok());
  EXPECT_FALSE(parse_range("bytes=x-3", 1000).is_ok());
  EXPECT_FALSE(parse_range("bytes=0-", 0).is_ok());
}

TEST(ContentRangeTest, Parses) {
  uint64_t a, b, t;
  EXPECT_TRUE(parse_content_range("bytes 0-99/1000", &a, &b, &t));
  EXPECT_EQ(b, 99u);
  EXPECT_EQ(t, 1000u);
  EXPECT_FALSE(parse_content_range("bytes 0-1000/1000", &a, &b, &t));
  EXPECT_FALSE(parse_content_range("bytes */1000", &a, &b, &t));
  EXPECT_FALSE(parse_content_range("0-1/2", &a, &b, &t));
}

}  // namespace
}  // namespace thaw::cache
