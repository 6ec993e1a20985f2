#include "tokenizer/wordpiece_tokenizer.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace thaw::tokenizer {
namespace {

std::string minilm_tokenizer_json() {
  std::ifstream f(std::string(THAW_SOURCE_DIR) + "/models/src/minilm/tokenizer.json", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A tiny hand-made vocabulary keeps the expected ids readable.
std::string tiny_tokenizer_json(nlohmann::json normalizer = nullptr) {
  nlohmann::json vocab = {{"[PAD]", 0}, {"[UNK]", 1}, {"[CLS]", 2}, {"[SEP]", 3}, {"[MASK]", 4}, {"un", 5},
                          {"##aff", 6}, {"##able", 7}, {"hello", 8}, {",", 9}, {"!", 10}, {"cafe", 11},
                          {"东", 12}, {"京", 13}};
  if (normalizer.is_null())
    normalizer = {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                  {"strip_accents", nullptr}, {"lowercase", true}};
  nlohmann::json j = {
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", {{{"id", 4}, {"content", "[MASK]"}, {"single_word", false}, {"lstrip", false},
                         {"rstrip", false}, {"normalized", false}, {"special", true}}}},
      {"normalizer", normalizer},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 10}, {"vocab", vocab}}},
  };
  return j.dump();
}

TEST(WordPieceTokenizer, GreedyLongestMatchWithContinuationPieces) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
  EXPECT_EQ(tok->encode("Unaffable, HELLO!").input_ids, (std::vector<int64_t>{2, 5, 6, 7, 9, 8, 10, 3}));
}

TEST(WordPieceTokenizer, UnknownPiecesAndOverlongWordsBecomeUnk) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok());
  EXPECT_EQ(tok->encode("unx hello").input_ids, (std::vector<int64_t>{2, 1, 8, 3}));
  EXPECT_EQ(tok->encode("unaffableaaa").input_ids, (std::vector<int64_t>{2, 1, 3}));  // 12 chars > 10
}

TEST(WordPieceTokenizer, AccentsStrippedChineseSplitControlsDropped) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok());
  EXPECT_EQ(tok->encode("Café\x07 东京\xE2\x80\x8B").input_ids, (std::vector<int64_t>{2, 11, 12, 13, 3}));
}

TEST(WordPieceTokenizer, AddedTokensMatchRawTextBeforeNormalisation) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok());
  EXPECT_EQ(tok->encode("hello[MASK]hello").input_ids, (std::vector<int64_t>{2, 8, 4, 8, 3}));
  // Lowercase "[mask]" is not the special token: it is split as punctuation and words.
  EXPECT_EQ(tok->encode("[mask]").input_ids, (std::vector<int64_t>{2, 1, 1, 1, 3}));
}

TEST(WordPieceTokenizer, InvalidUtf8IsDroppedNotFatal) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok());
  EXPECT_EQ(tok->encode(std::string("hel\xFF\xFElo") + "\xC3").input_ids, (std::vector<int64_t>{2, 8, 3}));
  EXPECT_EQ(tok->encode(std::string("\0hello", 6)).input_ids, (std::vector<int64_t>{2, 8, 3}));
}

TEST(WordPieceTokenizer, TruncationKeepsClsAndSep) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok());
  EXPECT_EQ(tok->encode("hello hello hello hello", 4).input_ids, (std::vector<int64_t>{2, 8, 8, 3}));
  EXPECT_EQ(tok->encode("hello hello", 2).input_ids, (std::vector<int64_t>{2, 3}));
}

TEST(WordPieceTokenizer, BatchPadsToTheLongestRow) {
  auto tok = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(tok.is_ok());
  std::vector<std::string_view> texts = {"hello", "hello, hello!"};
  BatchEncoding b = tok->encode_batch(texts);
  EXPECT_EQ(b.batch, 2);
  EXPECT_EQ(b.sequence, 6);
  EXPECT_EQ(b.input_ids, (std::vector<int64_t>{2, 8, 3, 0, 0, 0, 2, 8, 9, 8, 10, 3}));
  EXPECT_EQ(b.attention_mask, (std::vector<int64_t>{1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
  EXPECT_EQ(b.token_type_ids, std::vector<int64_t>(12, 0));
}

TEST(WordPieceTokenizer, RejectsWhatItCannotReproduceNamingTheField) {
  auto bad_norm = WordPieceTokenizer::from_json(tiny_tokenizer_json({{"type", "NFKC"}}));
  ASSERT_FALSE(bad_norm.is_ok());
  EXPECT_EQ(bad_norm.status().code(), Code::kUnsupported);
  EXPECT_NE(bad_norm.status().message().find("normalizer.type"), std::string::npos);
  auto not_json = WordPieceTokenizer::from_json("{\"model\": ");
  ASSERT_FALSE(not_json.is_ok());
  EXPECT_EQ(not_json.status().code(), Code::kInvalidArgument);
  auto bpe = WordPieceTokenizer::from_json(R"({"model": {"type": "BPE"}})");
  ASSERT_FALSE(bpe.is_ok());
  EXPECT_NE(bpe.status().message().find("model.type"), std::string::npos);
}

TEST(WordPieceTokenizer, ReadsTheRealMiniLmTokenizer) {
  auto tok = WordPieceTokenizer::from_json(minilm_tokenizer_json());
  ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
  EXPECT_EQ(tok->vocab_size(), 30522u);
  EXPECT_EQ(tok->default_max_length(), 128u);
  Encoding e = tok->encode("Hello world!");
  EXPECT_EQ(e.input_ids.front(), 101);
  EXPECT_EQ(e.input_ids.back(), 102);
  EXPECT_EQ(e.input_ids.size(), 5u);
}

}  // namespace
}  // namespace thaw::tokenizer

namespace thaw::tokenizer {
namespace {

TEST(WordPieceLongText, PiecesGiveTheIdsOfTheWholeTextAndTruncationStopsEarly) {
  auto t = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  // 300 KB: several 64 KiB pieces, cut after spaces, with [MASK] (an added token) across them.
  std::string text;
  std::vector<int64_t> expected = {2};
  while (text.size() < 300'000) {
    text += "hello, unaffable [MASK] cafe! ";
    for (int64_t id : {8, 9, 5, 6, 7, 4, 11, 10}) expected.push_back(id);
  }
  expected.push_back(3);
  Encoding whole = t->encode(text, 0);
  EXPECT_EQ(whole.input_ids, expected);
  Encoding cut = t->encode(text, 6);
  EXPECT_EQ(cut.input_ids, (std::vector<int64_t>{2, 8, 9, 5, 6, 3}));
}

TEST(WordPieceLongText, AWordLongerThanAPieceIsUnknownEitherWay) {
  auto t = WordPieceTokenizer::from_json(tiny_tokenizer_json());
  ASSERT_TRUE(t.is_ok());
  Encoding e = t->encode(std::string(200'000, 'a') + " hello", 0);
  ASSERT_GE(e.input_ids.size(), 4u);
  EXPECT_EQ(e.input_ids[1], 1);                         // [UNK]
  EXPECT_EQ(e.input_ids[e.input_ids.size() - 2], 8);  // hello
}

}  // namespace
}  // namespace thaw::tokenizer
