#include "protocol/openai_error.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace thaw::protocol {
namespace {

using json = nlohmann::json;

TEST(OpenAIError, TypesFollowTheStatus) {
  EXPECT_EQ(openai_error(404, "x")["error"]["type"], "not_found_error");
  EXPECT_EQ(openai_error(429, "x")["error"]["type"], "rate_limit_error");
  EXPECT_EQ(openai_error(400, "x")["error"]["type"], "invalid_request_error");
  EXPECT_EQ(openai_error(503, "x")["error"]["type"], "server_error");
  EXPECT_EQ(openai_error(400, "why")["error"]["message"], "why");
}

TEST(OpenAIError, OtherShapesAreRewrittenKeepingStatusAndHeaders) {
  http::Response kserve = http::Response::error(429, "queue full; retry later");
  kserve.headers.emplace_back("Retry-After", "1");
  http::Response out = to_openai_error(kserve);
  EXPECT_EQ(out.status, 429);
  ASSERT_EQ(out.headers.size(), 1u);
  EXPECT_EQ(out.headers[0].second, "1");
  json j = json::parse(out.body);
  EXPECT_EQ(j["error"]["message"], "queue full; retry later");
  EXPECT_EQ(j["error"]["type"], "rate_limit_error");

  http::Response text = http::Response::text(502, "upstream closed");
  EXPECT_EQ(json::parse(to_openai_error(text).body)["error"]["message"], "upstream closed");
  EXPECT_EQ(to_openai_error(text).content_type, "application/json");
}

TEST(OpenAIError, TheOpenAIShapeIsLeftAsItIs) {
  http::Response already = openai_error_response(400, "bad 'temperature'");
  EXPECT_EQ(to_openai_error(already).body, already.body);
}

}  // namespace
}  // namespace thaw::protocol
