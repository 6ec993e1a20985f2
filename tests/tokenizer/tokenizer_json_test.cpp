// tokenizer.json configurations the tokenizer cannot reproduce are refused, naming the field.
#include <gtest/gtest.h>

#include "tiny_tokenizer.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace thaw::tokenizer {
namespace {

using nlohmann::json;
using testing::tiny_tokenizer_json;

void expect_rejected(const json& doc, Code code, std::string_view field) {
  auto r = WordPieceTokenizer::from_json(doc.dump());
  ASSERT_FALSE(r.is_ok()) << "accepted a config that should name " << field;
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().to_string();
}

TEST(TokenizerJson, AcceptsTheTinyConfig) {
  auto r = WordPieceTokenizer::from_json(tiny_tokenizer_json().dump());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->vocab_size(), 19u);
  EXPECT_EQ(r->token_id("[MASK]"), std::optional<int32_t>(4));
  EXPECT_EQ(r->token_id("nope"), std::nullopt);
}

TEST(TokenizerJson, RejectsMalformedDocuments) {
  for (std::string bad : {"", "{", "[]", "42", "{\"model\": 1}", "\xFF"}) {
    auto r = WordPieceTokenizer::from_json(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
  }
}

TEST(TokenizerJson, RejectsOtherModels) {
  auto doc = tiny_tokenizer_json();
  doc["model"]["type"] = "BPE";
  expect_rejected(doc, Code::kUnsupported, "model.type");
}

TEST(TokenizerJson, RejectsBrokenVocabularies) {
  auto doc = tiny_tokenizer_json();
  doc["model"]["unk_token"] = "<unk>";
  expect_rejected(doc, Code::kInvalidArgument, "model.unk_token");
  doc = tiny_tokenizer_json();
  doc["model"]["vocab"]["bad"] = -3;
  expect_rejected(doc, Code::kInvalidArgument, "model.vocab");
  doc = tiny_tokenizer_json();
  doc["model"]["vocab"] = json::object();
  expect_rejected(doc, Code::kInvalidArgument, "model.vocab");
  doc = tiny_tokenizer_json();
  doc["model"]["max_input_chars_per_word"] = "many";
  expect_rejected(doc, Code::kInvalidArgument, "model.max_input_chars_per_word");
}

TEST(TokenizerJson, RejectsOtherNormalizersAndPreTokenizers) {
  auto doc = tiny_tokenizer_json();
  doc["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array()}};
  expect_rejected(doc, Code::kUnsupported, "normalizer.type");
  doc = tiny_tokenizer_json();
  doc["normalizer"]["lowercase"] = "yes";
  expect_rejected(doc, Code::kInvalidArgument, "normalizer.lowercase");
  doc = tiny_tokenizer_json();
  doc["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_rejected(doc, Code::kUnsupported, "pre_tokenizer");
  doc = tiny_tokenizer_json();
  doc["pre_tokenizer"] = nullptr;
  expect_rejected(doc, Code::kUnsupported, "pre_tokenizer");
}

TEST(TokenizerJson, RejectsAddedTokenOptionsItDoesNotImplement) {
  for (const char* flag : {"normalized", "lstrip", "rstrip", "single_word"}) {
    auto doc = tiny_tokenizer_json();
    doc["added_tokens"][2][flag] = true;
    expect_rejected(doc, Code::kUnsupported, std::string("added_tokens[2].") + flag);
  }
}

TEST(TokenizerJson, RejectsTruncationItDoesNotImplement) {
  auto doc = tiny_tokenizer_json();
  doc["truncation"] = {{"max_length", 8}, {"strategy", "OnlySecond"}, {"stride", 0}};
  expect_rejected(doc, Code::kUnsupported, "truncation.strategy");
  doc["truncation"] = {{"max_length", 8}, {"strategy", "LongestFirst"}, {"stride", 2}};
  expect_rejected(doc, Code::kUnsupported, "truncation.stride");
  doc["truncation"] = {{"max_length", 8}, {"strategy", "LongestFirst"}, {"stride", 0}, {"direction", "Left"}};
  expect_rejected(doc, Code::kUnsupported, "truncation.direction");
}

TEST(TokenizerJson, RejectsUnknownPostProcessors) {
  auto doc = tiny_tokenizer_json();
  doc["post_processor"] = {{"type", "RobertaProcessing"}};
  expect_rejected(doc, Code::kUnsupported, "post_processor.type");
  doc = tiny_tokenizer_json();
  doc["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", {{{"SpecialToken", {{"id", "[X]"}, {"type_id", 0}}}}}},
                           {"pair", json::array()},
                           {"special_tokens", json::object()}};
  expect_rejected(doc, Code::kInvalidArgument, "post_processor.single[0]");
}

TEST(TokenizerJson, TemplateAndBertProcessingAgree) {
  auto bert = WordPieceTokenizer::from_json(tiny_tokenizer_json().dump());
  auto doc = tiny_tokenizer_json();
  json special = {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
                  {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}};
  auto sp = [](const char* id, int type) { return json{{"SpecialToken", {{"id", id}, {"type_id", type}}}}; };
  auto seq = [](const char* id, int type) { return json{{"Sequence", {{"id", id}, {"type_id", type}}}}; };
  doc["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", {sp("[CLS]", 0), seq("A", 0), sp("[SEP]", 0)}},
                           {"pair", {sp("[CLS]", 0), seq("A", 0), sp("[SEP]", 0), seq("B", 1), sp("[SEP]", 1)}},
                           {"special_tokens", special}};
  auto tmpl = WordPieceTokenizer::from_json(doc.dump());
  ASSERT_TRUE(bert.is_ok() && tmpl.is_ok()) << tmpl.status().to_string();
  auto a = bert->encode_pair("hello cafe", "unaffable", 7);
  auto b = tmpl->encode_pair("hello cafe", "unaffable", 7);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->input_ids, b->input_ids);
  EXPECT_EQ(a->token_type_ids, b->token_type_ids);
}

}  // namespace
}  // namespace thaw::tokenizer
