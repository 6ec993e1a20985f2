#include "loadgen/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

namespace thaw::loadgen {
namespace {

TEST(ConstantRate, EvenlySpacedExactCount) {
  auto s = constant_rate(1000, 10);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  ASSERT_EQ(s->size(), 10000u);
  EXPECT_DOUBLE_EQ(s->offsets_s[0], 0.0);
  EXPECT_DOUBLE_EQ(s->offsets_s[1], 0.001);
  EXPECT_DOUBLE_EQ(s->offsets_s[9999], 9.999);
  EXPECT_DOUBLE_EQ(s->end_s, 10.0);
  EXPECT_FALSE(s->has_models());
}

TEST(ConstantRate, FractionalRateAndShortDuration) {
  auto s = constant_rate(3, 1.5);  // 0, 1/3, 2/3, 1, 4/3: every i / 3 below 1.5
  ASSERT_TRUE(s.is_ok());
  ASSERT_EQ(s->size(), 5u);
  EXPECT_NEAR(s->offsets_s[4], 4.0 / 3.0, 1e-12);
  auto one = constant_rate(0.5, 1.0);  // the first arrival is at 0
  ASSERT_TRUE(one.is_ok());
  EXPECT_EQ(one->size(), 1u);
}

TEST(ConstantRate, RejectsBadArguments) {
  EXPECT_FALSE(constant_rate(0, 1).is_ok());
  EXPECT_FALSE(constant_rate(-5, 1).is_ok());
  EXPECT_FALSE(constant_rate(NAN, 1).is_ok());
  EXPECT_FALSE(constant_rate(10, 0).is_ok());
  EXPECT_FALSE(constant_rate(10, INFINITY).is_ok());
  EXPECT_FALSE(constant_rate(1e7, 1e6).is_ok());  // too many arrivals
}

TEST(Poisson, DeterministicForASeed) {
  auto a = poisson(500, 4, 42);
  auto b = poisson(500, 4, 42);
  auto c = poisson(500, 4, 43);
  ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
  EXPECT_EQ(a->offsets_s, b->offsets_s);
  EXPECT_NE(a->offsets_s, c->offsets_s);
}

TEST(Poisson, SortedWithinRangeAndRateAndGapsMatchAnExponential) {
  const double rate = 2000, duration = 20;
  auto s = poisson(rate, duration, 7);
  ASSERT_TRUE(s.is_ok());
  const size_t n = s->size();
  // Count ~ Poisson(40000): sd 200; 5 sd either side.
  EXPECT_NEAR(static_cast<double>(n), rate * duration, 1000);
  double sum = 0, sum_sq = 0;
  size_t above_mean = 0;
  for (size_t i = 0; i < n; ++i) {
    double t = s->offsets_s[i];
    ASSERT_GE(t, 0.0);
    ASSERT_LT(t, duration);
    double gap = i == 0 ? t : t - s->offsets_s[i - 1];
    ASSERT_GE(gap, 0.0);
    sum += gap;
    sum_sq += gap * gap;
    if (gap > 1 / rate) ++above_mean;
  }
  double mean = sum / n, var = sum_sq / n - mean * mean;
  EXPECT_NEAR(mean, 1 / rate, 0.03 / rate);
  // Exponential: sd == mean, and P(gap > mean) = e^-1.
  EXPECT_NEAR(std::sqrt(var), 1 / rate, 0.05 / rate);
  EXPECT_NEAR(static_cast<double>(above_mean) / n, std::exp(-1.0), 0.01);
}

TEST(ParseSchedule, OffsetsOnlyWithCommentsAndBlankLines) {
  auto s = parse_schedule("# arrivals\n0\n0.5   # half a second\n\n  1.25\r\n2e-1\n");
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->offsets_s, (std::vector<double>{0, 0.2, 0.5, 1.25}));  // sorted
  EXPECT_DOUBLE_EQ(s->end_s, 1.25);
  EXPECT_FALSE(s->has_models());
}

TEST(ParseSchedule, ModelColumnSortedStablyWithIndices) {
  auto s = parse_schedule("0.3 beta\n0.1,alpha\n0.3\tgamma\n0.2 beta\n");
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->offsets_s, (std::vector<double>{0.1, 0.2, 0.3, 0.3}));
  ASSERT_EQ(s->model_of.size(), 4u);
  std::vector<std::string> order;
  for (uint32_t m : s->model_of) order.push_back(s->models[m]);
  EXPECT_EQ(order, (std::vector<std::string>{"alpha", "beta", "beta", "gamma"}));
  EXPECT_EQ(s->models.size(), 3u);
}

TEST(ParseSchedule, ErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* fragment;
  } cases[] = {
      {"", "no arrivals"},
      {"# only a comment\n\n", "no arrivals"},
      {"0\nabc\n", "line 2"},
      {"0\n-1\n", "line 2"},
      {"0\ninf\n", "line 2"},
      {"nan\n", "line 1"},
      {"0 a\n1\n", "every line names a model or none"},
      {"0\n1 a\n", "every line names a model or none"},
      {"0 a b\n", "OFFSET [MODEL]"},
      {"0 a/b\n", "letters, digits"},
      {"0 {model}\n", "letters, digits"},
      {"0,\n", "nothing after the comma"},
      {"1.5x\n", "line 1"},
  };
  for (const auto& c : cases) {
    auto s = parse_schedule(c.text);
    ASSERT_FALSE(s.is_ok()) << c.text;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.fragment), std::string::npos) << s.status().message();
  }
}

TEST(LoadScheduleFile, ReadsAFileAndReportsAMissingOne) {
  std::string path = ::testing::TempDir() + "/schedule_test.txt";
  {
    std::ofstream out(path);
    out << "0 m1\n0.5 m2\n";
  }
  auto s = load_schedule_file(path);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->size(), 2u);
  std::remove(path.c_str());
  auto missing = load_schedule_file(path);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST(TruncateSchedule, KeepsArrivalsBeforeTheEnd) {
  auto s = parse_schedule("0 a\n1 b\n2 a\n3 b\n");
  ASSERT_TRUE(s.is_ok());
  truncate_schedule(*s, 2);
  EXPECT_EQ(s->offsets_s, (std::vector<double>{0, 1}));
  EXPECT_EQ(s->model_of.size(), 2u);
  EXPECT_DOUBLE_EQ(s->end_s, 2.0);
}

TEST(ParseSchedule, ArbitraryBytesGiveAScheduleOrAnError) {
  // Seeded random lines over the characters the parser cares about: it must never crash, and
  // whatever it accepts must be sorted, finite and non-negative.
  const std::string alphabet = std::string("0123456789.eE+-, \t\r\n#abz_{}/") + '\0' + '\xff';
  std::mt19937_64 rng(11);
  for (int round = 0; round < 3000; ++round) {
    std::string text(rng() % 64, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    auto s = parse_schedule(text);
    if (!s.is_ok()) {
      EXPECT_FALSE(s.status().message().empty());
      continue;
    }
    ASSERT_FALSE(s->offsets_s.empty());
    for (size_t i = 0; i < s->size(); ++i) {
      ASSERT_TRUE(std::isfinite(s->offsets_s[i]) && s->offsets_s[i] >= 0);
      if (i > 0) {
        ASSERT_LE(s->offsets_s[i - 1], s->offsets_s[i]);
      }
    }
    ASSERT_TRUE(s->model_of.empty() || s->model_of.size() == s->size());
  }
}

}  // namespace
}  // namespace thaw::loadgen
