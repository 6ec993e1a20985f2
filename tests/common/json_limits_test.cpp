#include "common/json_limits.h"

#include <string>

#include <gtest/gtest.h>

namespace thaw {
namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJsonBounded, ParsesWhatIsWithinTheBounds) {
  JsonLimits l;
  auto j = parse_json_bounded(R"({"a": [1, 2, {"b": null}], "c": "x"})", l);
  ASSERT_TRUE(j.is_ok()) << j.status().to_string();
  EXPECT_EQ((*j)["a"][2]["b"], nullptr);
  EXPECT_EQ((*j)["c"], "x");
}

TEST(ParseJsonBounded, DepthIsCountedInEveryFieldAndNamesTheBound) {
  JsonLimits l;
  l.max_depth = 8;
  EXPECT_TRUE(parse_json_bounded(nested(8), l).is_ok());
  auto deep = parse_json_bounded(nested(9), l);
  ASSERT_FALSE(deep.is_ok());
  EXPECT_EQ(deep.status().code(), Code::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("max_json_depth=8"), std::string::npos) << deep.status().message();
  // Inside "parameters" as anywhere else.
  auto params = parse_json_bounded(R"({"parameters": {"p": )" + nested(20) + "}}", l);
  ASSERT_FALSE(params.is_ok());
  EXPECT_NE(params.status().message().find("max_json_depth"), std::string::npos);
}

TEST(ParseJsonBounded, ValuesAreCountedAndNameTheBound) {
  JsonLimits l;
  l.max_values = 10;
  EXPECT_TRUE(parse_json_bounded("[1,2,3,4,5,6,7,8,9]", l).is_ok());  // 9 numbers and the array
  auto many = parse_json_bounded("[1,2,3,4,5,6,7,8,9,10]", l);
  ASSERT_FALSE(many.is_ok());
  EXPECT_EQ(many.status().code(), Code::kResourceExhausted);
  EXPECT_NE(many.status().message().find("max_json_values=10"), std::string::npos) << many.status().message();
  auto objects = parse_json_bounded(R"({"a":{},"b":{},"c":{},"d":{},"e":{},"f":{},"g":{},"h":{},"i":{},"j":{}})", l);
  EXPECT_EQ(objects.status().code(), Code::kResourceExhausted);
}

TEST(ParseJsonBounded, CustomNamesAppearInErrors) {
  JsonLimits l;
  l.max_depth = 2;
  auto r = parse_json_bounded(nested(3), l, {.depth = "--max-json-depth"});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("--max-json-depth=2"), std::string::npos);
}

TEST(ParseJsonBounded, NotJsonIsInvalidArgument) {
  JsonLimits l;
  for (const char* bad : {"", "{", "[1,]", "{} x", "nul", "\"\\u12\""}) {
    auto r = parse_json_bounded(bad, l);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(r.status().message(), "request body is not valid JSON") << bad;
  }
}

TEST(ParseJsonBounded, DeepNestingFarBeyondTheBoundIsRefusedWithoutRecursion) {
  JsonLimits l;
  auto r = parse_json_bounded(nested(1 << 20), l);  // a recursive parser would overflow its stack
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace thaw
