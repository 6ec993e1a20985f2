#include "loadgen/target.h"

#include <gtest/gtest.h>

namespace thaw::loadgen {
namespace {

TEST(ParseUrl, HostPortAndPath) {
  auto t = parse_url("http://127.0.0.1:8000/v2/models/tiny/infer");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->endpoint.host, "127.0.0.1");
  EXPECT_EQ(t->endpoint.port, 8000);
  EXPECT_EQ(t->host_header, "127.0.0.1:8000");
  EXPECT_EQ(t->path, "/v2/models/tiny/infer");
}

TEST(ParseUrl, DefaultsAndQueries) {
  auto t = parse_url("http://localhost");
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->endpoint.port, 80);
  EXPECT_EQ(t->path, "/");
  auto q = parse_url("http://h:9?x=1");
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(q->path, "/?x=1");
  auto v6 = parse_url("http://[::1]:8080/v2");
  ASSERT_TRUE(v6.is_ok()) << v6.status().message();
  EXPECT_EQ(v6->endpoint.host, "::1");
  EXPECT_EQ(v6->endpoint.port, 8080);
  EXPECT_EQ(v6->host_header, "[::1]:8080");
}

TEST(ParseUrl, RejectsWhatItCannotSpeak) {
  for (const char* bad :
       {"https://h/", "ftp://h/", "h:80/x", "http://", "http://:80/", "http://h:/", "http://h:0/",
        "http://h:70000/", "http://h:8x/", "http://u@h/", "http://[::1/", "http://h/a b", "http://[::1]x/"}) {
    auto t = parse_url(bad);
    EXPECT_FALSE(t.is_ok()) << bad;
  }
  EXPECT_EQ(parse_url("https://h/").status().code(), Code::kUnsupported);
}

TEST(ModelPlaceholder, ExpandsEveryOccurrence) {
  EXPECT_TRUE(has_model_placeholder("/v2/models/{model}/infer"));
  EXPECT_FALSE(has_model_placeholder("/v2/models/m/infer"));
  EXPECT_EQ(expand_model("/v2/models/{model}/infer", "tiny"), "/v2/models/tiny/infer");
  EXPECT_EQ(expand_model("/{model}/{model}", "a"), "/a/a");
  EXPECT_EQ(expand_model("/plain", "a"), "/plain");
}

}  // namespace
}  // namespace thaw::loadgen
