// A small hand-written tokenizer.json for unit tests, editable per test.
#pragma once

#include <nlohmann/json.hpp>

namespace thaw::tokenizer::testing {

inline nlohmann::json tiny_tokenizer_json() {
  using json = nlohmann::json;
  json vocab = {{"[PAD]", 0}, {"[UNK]", 1}, {"[CLS]", 2}, {"[SEP]", 3}, {"[MASK]", 4},
                {"un", 5},    {"##aff", 6}, {"##able", 7}, {"##a", 8},  {"affable", 9},
                {"!", 10},    {"hello", 11}, {"cafe", 12},  {"東", 13},  {"i", 14}, {"##̇", 15},
                {"[", 16},    {"]", 17},     {"mask", 18}};
  json added = json::array();
  for (auto [content, id] : {std::pair{"[PAD]", 0}, {"[UNK]", 1}, {"[CLS]", 2}, {"[SEP]", 3}, {"[MASK]", 4}})
    added.push_back({{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                      {"strip_accents", nullptr}, {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 10}, {"vocab", vocab}}},
  };
}

}  // namespace thaw::tokenizer::testing
