#include "tokenizer/wordpiece_tokenizer.h"

#include <gtest/gtest.h>

#include "tiny_tokenizer.h"

namespace thaw::tokenizer {
namespace {

using testing::tiny_tokenizer_json;
using Ids = std::vector<int64_t>;

WordPieceTokenizer make(const nlohmann::json& doc) {
  auto r = WordPieceTokenizer::from_json(doc.dump());
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return std::move(r).value();
}

Ids ids(const WordPieceTokenizer& tok, std::string_view text, size_t max_length = kDefaultMaxLength) {
  auto e = tok.encode(text, max_length);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  return e.is_ok() ? e->input_ids : Ids{};
}

TEST(WordPiece, GreedyLongestMatchWithContinuationPrefix) {
  auto tok = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(tok, "unaffable"), (Ids{2, 5, 6, 7, 3}));
  EXPECT_EQ(ids(tok, "affable!"), (Ids{2, 9, 10, 3}));
  EXPECT_EQ(ids(tok, "Hello  HELLO\thello"), (Ids{2, 11, 11, 11, 3}));
}

TEST(WordPiece, UnmatchedRestMakesTheWholeWordUnknown) {
  auto tok = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(tok, "unaffablex hello"), (Ids{2, 1, 11, 3}));
}

TEST(WordPiece, WordsOverMaxInputCharsAreUnknown) {
  auto tok = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(tok, "unaffablea"), (Ids{2, 5, 6, 7, 8, 3}));  // 10 characters: allowed
  EXPECT_EQ(ids(tok, "unaffableaa"), (Ids{2, 1, 3}));        // 11: [UNK]
}

TEST(WordPiece, VeryLongWordsStayLinear) {
  auto doc = tiny_tokenizer_json();
  doc["model"]["max_input_chars_per_word"] = 10'000'000;
  auto tok = make(doc);
  EXPECT_EQ(ids(tok, std::string(200'000, 'x'), kNoTruncation), (Ids{2, 1, 3}));
  Ids want{2, 5};
  want.insert(want.end(), 100'000, 8);
  want.push_back(3);
  EXPECT_EQ(ids(tok, "un" + std::string(100'000, 'a'), kNoTruncation), want);
}

TEST(WordPiece, NormalizesAccentsCjkAndControls) {
  auto tok = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(tok, "CAFÉ"), (Ids{2, 12, 3}));
  EXPECT_EQ(ids(tok, "cafe\u0301\u0000"), (Ids{2, 12, 3}));
  EXPECT_EQ(ids(tok, "hello東hello"), (Ids{2, 11, 13, 11, 3}));
  EXPECT_EQ(ids(tok, "\xEF\xBF\xBD\x07 \xE2\x80\x8B"), (Ids{2, 3}));  // U+FFFD, BEL, ZWSP vanish
}

TEST(WordPiece, DottedCapitalIKeepsItsDotWhenAccentsAreKept) {
  auto doc = tiny_tokenizer_json();
  doc["normalizer"]["strip_accents"] = false;
  auto tok = make(doc);
  EXPECT_EQ(ids(tok, "\xC4\xB0"), (Ids{2, 14, 15, 3}));  // İ -> i + U+0307
  auto stripping = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(stripping, "\xC4\xB0"), (Ids{2, 14, 3}));
}

TEST(WordPiece, AddedTokensMatchVerbatimBeforeNormalization) {
  auto tok = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(tok, "hello[MASK]hello"), (Ids{2, 11, 4, 11, 3}));
  EXPECT_EQ(ids(tok, "[mask]"), (Ids{2, 16, 18, 17, 3}));  // not the token: '[' 'mask' ']'
}

TEST(WordPiece, TruncationKeepsSpecialTokens) {
  auto tok = make(tiny_tokenizer_json());
  EXPECT_EQ(ids(tok, "hello hello hello hello", 4), (Ids{2, 11, 11, 3}));
  EXPECT_EQ(ids(tok, "hello hello", 2), (Ids{2, 3}));
  EXPECT_EQ(ids(tok, "hello hello hello", kNoTruncation), (Ids{2, 11, 11, 11, 3}));
  auto too_short = tok.encode("hello", 1);
  ASSERT_FALSE(too_short.is_ok());
  EXPECT_EQ(too_short.status().code(), Code::kInvalidArgument);
}

TEST(WordPiece, ConfiguredTruncationIsTheDefault) {
  auto doc = tiny_tokenizer_json();
  doc["truncation"] = {{"max_length", 3}, {"strategy", "LongestFirst"}, {"stride", 0}, {"direction", "Right"}};
  auto tok = make(doc);
  EXPECT_EQ(tok.configured_max_length(), std::optional<size_t>(3));
  EXPECT_EQ(ids(tok, "hello hello"), (Ids{2, 11, 3}));
  EXPECT_EQ(ids(tok, "hello hello", 10), (Ids{2, 11, 11, 3}));
}

TEST(WordPiece, PairsGetTypeIdsAndLongestFirstTruncation) {
  auto tok = make(tiny_tokenizer_json());
  auto e = tok.encode_pair("hello", "cafe cafe");
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->input_ids, (Ids{2, 11, 3, 12, 12, 3}));
  EXPECT_EQ(e->token_type_ids, (Ids{0, 0, 0, 1, 1, 1}));
  auto t = tok.encode_pair("hello hello hello", "cafe", 6);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->input_ids, (Ids{2, 11, 11, 3, 12, 3}));
}

TEST(WordPiece, InvalidUtf8IsRejected) {
  auto tok = make(tiny_tokenizer_json());
  for (std::string bad : {"\xFF", "hello\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "a\x80"}) {
    auto e = tok.encode(bad);
    ASSERT_FALSE(e.is_ok()) << bad;
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
    EXPECT_NE(e.status().message().find("UTF-8"), std::string::npos);
  }
}

TEST(WordPiece, BatchPadsToTheLongest) {
  auto tok = make(tiny_tokenizer_json());
  auto b = tok.encode_batch({"hello", "hello cafe hello", ""});
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->batch_size, 3u);
  EXPECT_EQ(b->seq_len, 5u);
  EXPECT_EQ(b->input_ids, (Ids{2, 11, 3, 0, 0, 2, 11, 12, 11, 3, 2, 3, 0, 0, 0}));
  EXPECT_EQ(b->attention_mask, (Ids{1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(b->token_type_ids, Ids(15, 0));
}

TEST(WordPiece, BatchHonoursPaddingSettings) {
  auto doc = tiny_tokenizer_json();
  doc["padding"] = {{"strategy", "BatchLongest"}, {"direction", "Left"}, {"pad_to_multiple_of", 4},
                    {"pad_id", 1}, {"pad_type_id", 7}, {"pad_token", "[UNK]"}};
  auto tok = make(doc);
  auto b = tok.encode_batch({"hello"});
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->seq_len, 4u);
  EXPECT_EQ(b->input_ids, (Ids{1, 2, 11, 3}));
  EXPECT_EQ(b->attention_mask, (Ids{0, 1, 1, 1}));
  EXPECT_EQ(b->token_type_ids, (Ids{7, 0, 0, 0}));
  auto bad = tok.encode_batch({"hello", "\xFF"});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("text 1"), std::string::npos);
}

TEST(WordPiece, EmptyBatchIsEmpty) {
  auto tok = make(tiny_tokenizer_json());
  auto b = tok.encode_batch({});
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->batch_size, 0u);
  EXPECT_TRUE(b->input_ids.empty());
}

}  // namespace
}  // namespace thaw::tokenizer
