// Compares WordPieceTokenizer with Hugging Face `tokenizers` on all-MiniLM-L6-v2's tokenizer.json:
// generated sentences and pairs, the model's reference inputs, and every Unicode code point.
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/bert_normalizer.h"
#include "tokenizer/bert_unicode.h"
#include "tokenizer/wordpiece_tokenizer.h"

namespace thaw::tokenizer {
namespace {

using json = nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const WordPieceTokenizer& minilm() {
  static const WordPieceTokenizer tok = [] {
    std::string text = read_file(std::string(THAW_SOURCE_DIR) + "/models/src/minilm/tokenizer.json");
    auto r = WordPieceTokenizer::from_json(text);
    if (!r.is_ok()) throw std::runtime_error(r.status().to_string());
    return std::move(r).value();
  }();
  return tok;
}

const json& cases() {
  static const json doc = [] {
    std::string text = read_file(THAW_TOKENIZER_CASES);
    if (text.empty()) throw std::runtime_error("missing " THAW_TOKENIZER_CASES "; build target tokenizer_cases");
    return json::parse(text);
  }();
  return doc;
}

std::vector<int64_t> ids_of(const json& j) { return j.get<std::vector<int64_t>>(); }

// Shows a test string with control and non-ASCII characters escaped.
std::string escaped(const std::string& s) { return json(s).dump(-1, ' ', true); }

TEST(HfParity, AtLeastAThousandSentencesMatchExactly) {
  const json& singles = cases()["singles"];
  const size_t max_length = cases()["max_length"].get<size_t>();
  ASSERT_GE(singles.size(), 1000u);
  size_t truncated = 0;
  for (size_t i = 0; i < singles.size(); ++i) {
    std::string text = singles[i]["text"].get<std::string>();
    auto enc = minilm().encode(text, max_length);
    ASSERT_TRUE(enc.is_ok()) << "sentence " << i << " " << escaped(text) << ": " << enc.status().to_string();
    std::vector<int64_t> want = ids_of(singles[i]["ids"]);
    if (enc->input_ids != want) {
      size_t at = 0;
      while (at < want.size() && at < enc->input_ids.size() && want[at] == enc->input_ids[at]) ++at;
      FAIL() << "first differing sentence (#" << i << "), ids differ from position " << at << ": "
             << escaped(text) << "\n  want " << json(want).dump() << "\n  got  " << json(enc->input_ids).dump();
    }
    ASSERT_EQ(enc->token_type_ids, ids_of(singles[i]["type_ids"])) << escaped(text);
    ASSERT_EQ(enc->attention_mask, std::vector<int64_t>(want.size(), 1));
    if (want.size() == max_length) ++truncated;
  }
  EXPECT_GT(truncated, 10u) << "the generated set should exercise truncation";
}

TEST(HfParity, PairsMatchExactly) {
  const json& pairs = cases()["pairs"];
  ASSERT_GE(pairs.size(), 100u);
  for (size_t i = 0; i < pairs.size(); ++i) {
    const json& p = pairs[i];
    std::string a = p["a"].get<std::string>(), b = p["b"].get<std::string>();
    auto enc = minilm().encode_pair(a, b, p["max_length"].get<size_t>());
    ASSERT_TRUE(enc.is_ok()) << enc.status().to_string();
    ASSERT_EQ(enc->input_ids, ids_of(p["ids"]))
        << "first differing pair (#" << i << ", max_length " << p["max_length"] << "): " << escaped(a)
        << " / " << escaped(b);
    ASSERT_EQ(enc->token_type_ids, ids_of(p["type_ids"])) << escaped(a) << " / " << escaped(b);
  }
}

TEST(HfParity, ModelReferenceInputs) {
  json ref = json::parse(read_file(std::string(THAW_SOURCE_DIR) + "/models/src/minilm/reference.json"));
  const size_t max_length = ref["max_seq_length"].get<size_t>();
  ASSERT_EQ(ref["sentences"].size(), ref["input_ids"].size());
  std::vector<std::string> texts = ref["sentences"].get<std::vector<std::string>>();
  auto batch = minilm().encode_batch(texts, max_length);
  ASSERT_TRUE(batch.is_ok()) << batch.status().to_string();
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int64_t> want = ids_of(ref["input_ids"][i]);
    while (!want.empty() && want.back() == 0) want.pop_back();  // reference rows may be padded
    std::vector<int64_t> got(batch->input_ids.begin() + i * batch->seq_len,
                             batch->input_ids.begin() + (i + 1) * batch->seq_len);
    while (!got.empty() && got.back() == 0) got.pop_back();
    EXPECT_EQ(got, want) << escaped(texts[i]);
  }
}

std::set<char32_t> expand(const json& ranges) {
  std::set<char32_t> out;
  for (const json& r : ranges)
    for (char32_t c = r[0].get<char32_t>(); c <= r[1].get<char32_t>(); ++c) out.insert(c);
  return out;
}

std::map<char32_t, std::u32string> mapping(const json& entries) {
  std::map<char32_t, std::u32string> out;
  for (const json& e : entries) {
    std::u32string s;
    for (const json& c : e[1]) s.push_back(c.get<char32_t>());
    out[e[0].get<char32_t>()] = s;
  }
  return out;
}

// Every code point, one class at a time, so a mismatch names the class and the code point.
TEST(HfParity, EveryCodePointIsClassifiedAsHuggingFaceDoes) {
  const json& table = cases()["codepoints"];
  auto removed = expand(table["removed"]), whitespace = expand(table["whitespace"]);
  auto cjk = expand(table["cjk"]), punctuation = expand(table["punctuation"]);
  auto split_ws = expand(table["split_whitespace"]);
  auto strip = mapping(table["strip_accents"]), lower = mapping(table["lowercase"]);
  BertNormalizerOptions strip_only{false, false, true, false}, lower_only{false, false, false, true};
  std::vector<std::string> mismatches;
  std::u32string in(1, U'\0'), out, scratch;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    auto report = [&](const char* what) {
      if (mismatches.size() < 40) mismatches.push_back(fmt::format("{} U+{:04X}", what, uint32_t(cp)));
      else if (mismatches.size() == 40) mismatches.push_back("...");
    };
    bool rm = is_bert_removed(cp);
    if (rm != removed.count(cp)) report("removed");
    if (!rm && cp != U' ' && cp != U'a' && is_bert_whitespace(cp) != bool(whitespace.count(cp))) report("whitespace");
    if (cp != U'a' && is_bert_whitespace(cp) != bool(split_ws.count(cp))) report("split_whitespace");
    if (cp != U'a' && (is_bert_punctuation(cp) && !is_bert_whitespace(cp)) != bool(punctuation.count(cp)))
      report("punctuation");
    if (is_cjk_ideograph(cp) != bool(cjk.count(cp))) report("cjk");
    in[0] = cp;
    if (cp != 1) {
      bert_normalize(in, strip_only, out, scratch);
      auto it = strip.find(cp);
      if (out != (it == strip.end() ? in : it->second)) report("strip_accents");
      bert_normalize(in, lower_only, out, scratch);
      it = lower.find(cp);
      if (out != (it == lower.end() ? in : it->second)) report("lowercase");
    }
  }
  std::string all;
  for (const auto& m : mismatches) all += m + "\n";
  EXPECT_TRUE(mismatches.empty()) << all;
}

}  // namespace
}  // namespace thaw::tokenizer
