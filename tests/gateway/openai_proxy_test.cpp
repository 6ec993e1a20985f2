#include "gateway/openai_proxy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace thaw::gateway {
namespace {

TEST(OpenAIProxy, ReadsTheBodysModel) {
  auto m = openai_model(R"({"model": "qwen", "prompt": "x"})");
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(*m, "qwen");
}

TEST(OpenAIProxy, RefusesBodiesWithoutAModel) {
  for (const char* body : {"", "[]", "{", R"({"prompt": "x"})", R"({"model": 3})", R"({"model": ""})"}) {
    auto m = openai_model(body);
    ASSERT_FALSE(m.is_ok()) << body;
    EXPECT_EQ(m.status().code(), Code::kInvalidArgument) << body;
  }
  EXPECT_NE(openai_model("{}").status().message().find("GET /v1/models"), std::string::npos);
}

TEST(OpenAIProxy, RenamesTheModelForAStudent) {
  auto j = nlohmann::json::parse(
      with_model(R"({"model": "big", "messages": [{"role": "user", "content": "hi"}]})", "small"));
  EXPECT_EQ(j["model"], "small");
  EXPECT_EQ(j["messages"][0]["content"], "hi");
  EXPECT_EQ(with_model("not json", "small"), "not json");
}

}  // namespace
}  // namespace thaw::gateway
