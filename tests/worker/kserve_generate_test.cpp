#include "worker/kserve_generate.h"

#include <gtest/gtest.h>

namespace thaw::worker {
namespace {

TEST(KServeGenerate, ReadsTextInputAndParametersInsideOrBeside) {
  CompletionLimits l;
  l.context_length = 50;
  auto r = parse_generate_request(
      R"({"id": "1", "text_input": "hi", "parameters": {"max_tokens": 3, "temperature": 0},
                                      "stop": ["x"], "stream": true})",
      l);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->generate.prompt, "hi");
  EXPECT_EQ(r->generate.max_tokens, 3u);
  EXPECT_EQ(r->generate.sampling.temperature, 0.0f);
  EXPECT_EQ(r->generate.stop, std::vector<std::string>{"x"});
  EXPECT_FALSE(r->stream);  // the route decides, not the body
}

TEST(KServeGenerate, RefusesWhatTheOpenAIParserRefuses) {
  CompletionLimits l;
  l.context_length = 50;
  EXPECT_FALSE(parse_generate_request(R"({"parameters": {}})", l).is_ok());
  EXPECT_FALSE(parse_generate_request(R"({"text_input": 3})", l).is_ok());
  EXPECT_FALSE(parse_generate_request(R"({"text_input": "a", "parameters": 3})", l).is_ok());
  auto big = parse_generate_request(R"({"text_input": "a", "parameters": {"max_tokens": 51}})", l);
  ASSERT_FALSE(big.is_ok());
  EXPECT_NE(big.status().message().find("context"), std::string::npos);
  EXPECT_FALSE(parse_generate_request("[]", l).is_ok());
}

}  // namespace
}  // namespace thaw::worker
