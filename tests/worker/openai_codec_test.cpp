#include "worker/openai_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace thaw::worker {
namespace {

using json = nlohmann::json;

CompletionLimits limits() {
  CompletionLimits l;
  l.context_length = 100;
  l.default_max_tokens = 10;
  l.defaults.temperature = 0.7f;
  l.defaults.top_p = 0.8f;
  return l;
}

Result<CompletionRequest> text(const json& body) {
  return parse_completion_request(body.dump(), CompletionKind::kText, limits());
}
Result<CompletionRequest> chat(const json& body) {
  return parse_completion_request(body.dump(), CompletionKind::kChat, limits());
}

void expect_refused(const Result<CompletionRequest>& r, std::string_view word) {
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(word), std::string::npos) << r.status().message();
}

TEST(OpenAICodec, ReadsACompletionWithEverySamplingField) {
  auto r = text({{"model", "m"},
                 {"prompt", "hi"},
                 {"max_tokens", 5},
                 {"temperature", 0},
                 {"top_p", 0.5},
                 {"seed", 42},
                 {"stop", {"a", "b"}},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}},
                 {"user", "ignored"},
                 {"ignore_eos", true}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r->model, "m");
  EXPECT_EQ(r->generate.prompt, "hi");
  EXPECT_EQ(r->generate.max_tokens, 5u);
  EXPECT_EQ(r->generate.sampling.temperature, 0.0f);
  EXPECT_EQ(r->generate.sampling.top_p, 0.5f);
  EXPECT_EQ(*r->generate.sampling.seed, 42u);
  EXPECT_EQ(r->generate.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->generate.ignore_eos);
}

TEST(OpenAICodec, DefaultsComeFromTheModel) {
  auto r = text({{"prompt", {"one"}}});
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r->model.has_value());
  EXPECT_EQ(r->generate.prompt, "one");
  EXPECT_EQ(r->generate.max_tokens, 10u);
  EXPECT_EQ(r->generate.sampling.temperature, 0.7f);
  EXPECT_EQ(r->generate.sampling.top_p, 0.8f);
  EXPECT_FALSE(r->generate.sampling.seed.has_value());
  EXPECT_FALSE(r->stream);
}

TEST(OpenAICodec, ReadsChatMessagesWithTextParts) {
  auto r = chat({{"messages",
                  {{{"role", "developer"}, {"content", "be brief"}},
                   {{"role", "user"},
                    {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}},
                 {"max_completion_tokens", 3}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "ab");
  EXPECT_EQ(r->generate.max_tokens, 3u);
}

TEST(OpenAICodec, RefusesBadFieldsByName) {
  expect_refused(parse_completion_request("[1]", CompletionKind::kText, limits()), "JSON object");
  expect_refused(parse_completion_request("{bad", CompletionKind::kText, limits()), "");
  expect_refused(text({{"max_tokens", 1}}), "prompt");
  expect_refused(text({{"prompt", {"a", "b"}}}), "several prompts");
  expect_refused(text({{"prompt", {1, 2}}}), "prompt");
  expect_refused(text({{"prompt", "x"}, {"max_tokens", 0}}), "max_tokens");
  expect_refused(text({{"prompt", "x"}, {"max_tokens", 101}}), "context");
  expect_refused(text({{"prompt", "x"}, {"max_tokens", 2.5}}), "max_tokens");
  expect_refused(text({{"prompt", "x"}, {"temperature", 3}}), "temperature");
  expect_refused(text({{"prompt", "x"}, {"temperature", "hot"}}), "temperature");
  expect_refused(text({{"prompt", "x"}, {"top_p", 0}}), "top_p");
  expect_refused(text({{"prompt", "x"}, {"seed", "s"}}), "seed");
  expect_refused(text({{"prompt", "x"}, {"stop", {"a", "b", "c", "d", "e"}}}), "stop");
  expect_refused(text({{"prompt", "x"}, {"stop", 3}}), "stop");
  expect_refused(text({{"prompt", "x"}, {"n", 2}}), "'n'");
  expect_refused(text({{"prompt", "x"}, {"logprobs", 3}}), "logprobs");
  expect_refused(text({{"prompt", "x"}, {"frequency_penalty", 1}}), "frequency_penalty");
  expect_refused(text({{"prompt", "x"}, {"stream", "yes"}}), "stream");
  expect_refused(text({{"model", 5}, {"prompt", "x"}}), "model");
  expect_refused(chat({{"messages", json::array()}}), "messages");
  expect_refused(chat({{"messages", {{{"role", "king"}, {"content", "x"}}}}}), "role");
  expect_refused(chat({{"messages", {{{"role", "user"}}}}}), "content");
  expect_refused(chat({{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}),
                 "content");
  expect_refused(chat({{"messages", {"hi"}}}), "messages[0]");
}

TEST(OpenAICodec, AcceptsDefaultValuesOfUnsupportedFields) {
  auto r = text({{"prompt", "x"},
                 {"n", 1},
                 {"logprobs", nullptr},
                 {"echo", false},
                 {"frequency_penalty", 0},
                 {"tools", json::array()}});
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
}

TEST(OpenAICodec, EncodesWholeAnswersAndChunks) {
  CompletionIds ids{"chatcmpl-1", "m", 123};
  json whole = completion_response(CompletionKind::kChat, ids, "hi", "stop", {3, 2, 1});
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(whole["usage"]["total_tokens"], 5);
  EXPECT_EQ(whole["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
  json text_whole = completion_response(CompletionKind::kText, ids, "hi", "length", {1, 1});
  EXPECT_EQ(text_whole["choices"][0]["text"], "hi");

  std::string chunk = completion_chunk(CompletionKind::kChat, ids, "a\xFF", "");
  ASSERT_TRUE(chunk.starts_with("data: ") && chunk.ends_with("\n\n"));
  json c = json::parse(chunk.substr(6));
  EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(c["choices"][0]["delta"]["content"], "a\xEF\xBF\xBD");  // invalid UTF-8 replaced, never thrown
  json last = json::parse(completion_chunk(CompletionKind::kChat, ids, "", "stop").substr(6));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(last["choices"][0]["delta"].empty());
  json role = json::parse(completion_chunk(CompletionKind::kChat, ids, "", "", true).substr(6));
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  json usage = json::parse(usage_chunk(CompletionKind::kText, ids, {4, 5}).substr(6));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 5);
  EXPECT_EQ(openai_error(404, "x")["error"]["type"], "not_found_error");
  EXPECT_TRUE(error_event("boom").ends_with(std::string(kDoneEvent)));
}

}  // namespace
}  // namespace thaw::worker
