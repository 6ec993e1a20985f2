#include <gtest/gtest.h>

#include "cache/upstream.h"

namespace thaw::cache {
namespace {

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
