// --backend-opt parsing and checking against a plugin's option specs.
#include "engine/backend_options.h"

#include <gtest/gtest.h>

namespace thaw::engine {
namespace {

const std::vector<OptionSpec> kSpecs = {
    {.key = "level", .help = "how hard", .default_value = "low", .choices = {"low", "high"}},
    {.key = "threads", .help = "how many", .range = std::pair<int64_t, int64_t>{0, 8}},
    {.key = "path", .help = "anything"},
};

Status parse(std::vector<std::string> items, std::span<const OptionSpec> specs = kSpecs) {
  return BackendOptions::parse(items, specs, "backend 'test'").status();
}

void expect_error(const Status& s, std::string_view part) {
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find(part), std::string::npos) << "want '" << part << "' in " << s.to_string();
}

TEST(BackendOptions, GivenValuesAndDefaults) {
  std::vector<std::string> items = {"threads=4", "path=a=b"};
  auto o = BackendOptions::parse(items, kSpecs, "backend 'test'");
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->value("level"), "low");
  EXPECT_EQ(o->integer("threads"), 4);
  EXPECT_EQ(o->value("path"), "a=b") << "the value is everything after the first '='";
  EXPECT_EQ(o->value("nope"), "");

  auto none = BackendOptions::parse({}, kSpecs, "x");
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->value("threads"), "") << "no default, not given";
}

TEST(BackendOptions, UnknownKeysNameTheValidOnes) {
  expect_error(parse({"colour=red"}),
               "backend 'test' has no option 'colour'; valid keys: level, threads, path");
  expect_error(parse({"colour=red"}, {}), "backend 'test' takes no options (got 'colour')");
}

TEST(BackendOptions, BadValuesSayWhatTheValueMustBe) {
  expect_error(parse({"level=medium"}), "level='medium': the value must be one of low, high");
  expect_error(parse({"threads=9"}), "an integer in [0, 8]");
  expect_error(parse({"threads=two"}), "an integer in [0, 8]");
  expect_error(parse({"threads=1x"}), "an integer in [0, 8]");
  expect_error(parse({"path="}), "a non-empty value");
}

TEST(BackendOptions, MalformedItemsAndRepeats) {
  expect_error(parse({"level"}), "backend option 'level' is not key=value");
  expect_error(parse({"=low"}), "is not key=value");
  expect_error(parse({"level=low", "level=high"}), "option 'level' is given twice");
}

TEST(BackendOptions, DescribeListsValuesAndDefaults) {
  const std::string text = describe_options(kSpecs);
  EXPECT_NE(text.find("level=low|high (default low): how hard"), std::string::npos) << text;
  EXPECT_NE(text.find("threads=0..8: how many"), std::string::npos) << text;
  EXPECT_NE(text.find("path=VALUE: anything"), std::string::npos) << text;
}

}  // namespace
}  // namespace thaw::engine
