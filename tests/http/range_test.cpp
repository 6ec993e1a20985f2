#include "http/range.h"

#include <gtest/gtest.h>

namespace thaw::http {
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

TEST(SelectRangeTest, WholeBodyOrOneRangeWithItsHeaders) {
  Headers h;
  auto whole = select_range(std::nullopt, 1000, &h);
  ASSERT_TRUE(whole.is_ok());
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->first, 0u);
  EXPECT_EQ(whole->end, 1000u);
  EXPECT_EQ(find_header(h, "Accept-Ranges").value_or(""), "bytes");
  EXPECT_FALSE(find_header(h, "Content-Range"));
  h.clear();
  auto part = select_range("bytes=10-19", 1000, &h);
  ASSERT_TRUE(part.is_ok());
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->first, 10u);
  EXPECT_EQ(part->end, 20u);
  EXPECT_EQ(find_header(h, "Content-Range").value_or(""), "bytes 10-19/1000");
}

TEST(SelectRangeTest, UnsatisfiableGets416WithTheSize) {
  Headers h;
  auto r = select_range("bytes=1000-", 1000, &h);
  ASSERT_FALSE(r.is_ok());
  Response answer = range_not_satisfiable(1000, r.status());
  EXPECT_EQ(answer.status, 416);
  EXPECT_EQ(find_header(answer.headers, "Content-Range").value_or(""), "bytes */1000");
}

}  // namespace
}  // namespace thaw::http
