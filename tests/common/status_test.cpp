#include "common/status.h"

#include <gtest/gtest.h>

namespace thaw {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return make_error(Code::kInvalidArgument, "{} is not positive", x);
  return x;
}

Result<int> doubled(int x) {
  THAW_ASSIGN_OR_RETURN(int v, parse_positive(x));
  return v * 2;
}

TEST(Status, OkAndErrorCarryCodeAndMessage) {
  EXPECT_TRUE(Status::ok().is_ok());
  Status s = make_error(Code::kCorrupt, "tensor '{}' truncated", "w");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(s.to_string(), "corrupt: tensor 'w' truncated");
  EXPECT_EQ(s.with_context("m.thaw").message(), "m.thaw: tensor 'w' truncated");
}

TEST(Result, PropagatesErrorsThroughAssignOrReturn) {
  auto good = doubled(4);
  ASSERT_TRUE(good.is_ok());
  EXPECT_EQ(*good, 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "-1 is not positive");
}

}  // namespace
}  // namespace thaw
