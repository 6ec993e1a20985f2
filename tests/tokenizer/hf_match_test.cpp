// thaw's tokenizer gives exactly the ids of Hugging Face `tokenizers` on every generated case.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/wordpiece_tokenizer.h"

namespace thaw::tokenizer {
namespace {

std::string read_file(const char* path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string escaped(const std::string& s) { return nlohmann::json(s).dump(); }

TEST(TokenizerMatchesHuggingFace, EveryGeneratedCase) {
  const char* cases_path = std::getenv("THAW_TOKENIZER_CASES");
  const char* tok_path = std::getenv("THAW_TOKENIZER_JSON");
  ASSERT_NE(cases_path, nullptr) << "THAW_TOKENIZER_CASES is not set (run through ctest)";
  ASSERT_NE(tok_path, nullptr);
  auto tok = WordPieceTokenizer::from_json(read_file(tok_path));
  ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
  auto doc = nlohmann::json::parse(read_file(cases_path));
  size_t max_length = doc.at("max_length").get<size_t>();
  const auto& cases = doc.at("cases");
  ASSERT_GE(cases.size(), 1000u);
  size_t mismatches = 0;
  for (const auto& c : cases) {
    std::string text = c.at("text").get<std::string>();
    auto expected = c.at("ids").get<std::vector<int64_t>>();
    Encoding got = tok->encode(text, max_length);
    if (got.input_ids != expected) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << "ids differ for " << escaped(text) << "\n  expected "
                      << nlohmann::json(expected).dump() << "\n  got      " << nlohmann::json(got.input_ids).dump();
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << cases.size() << " cases";
}

}  // namespace
}  // namespace thaw::tokenizer
