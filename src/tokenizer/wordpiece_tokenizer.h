// BERT WordPiece tokenisation read from a Hugging Face tokenizer.json, producing the same ids as the
// `tokenizers` library: BertNormalizer, BertPreTokenizer, WordPiece, [CLS] A [SEP] template.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace thaw::tokenizer {

struct Encoding {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> token_type_ids;
};

// Row-major [batch, sequence] int64 tensors, padded to the longest row; ready for a BERT graph.
struct BatchEncoding {
  int64_t batch = 0;
  int64_t sequence = 0;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> token_type_ids;
};

struct NormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;
  bool lowercase = true;
};

class WordPieceTokenizer {
 public:
  // Rejects configurations it cannot reproduce exactly, naming the field.
  static Result<WordPieceTokenizer> from_json(std::string_view tokenizer_json);

  // Tokenises one text. `max_length` counts [CLS] and [SEP]; 0 means the file's truncation setting
  // (or none). Invalid UTF-8 bytes are read as U+FFFD, which normalisation then drops.
  // A long text is read in pieces of at most 64 KiB cut after an ASCII space, and reading stops
  // once max_length is reached, so a truncated text costs what its kept tokens cost. The ids equal
  // those of reading it whole, except for a run of 64 KiB without an ASCII space, which is cut at a
  // character boundary (a word that long is [UNK] either way, in pieces or not).
  Encoding encode(std::string_view text, size_t max_length = 0) const;
  BatchEncoding encode_batch(std::span<const std::string_view> texts, size_t max_length = 0) const;

  size_t vocab_size() const { return vocab_.size(); }
  size_t default_max_length() const { return truncation_max_length_; }
  int64_t pad_id() const { return pad_id_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct AddedToken {
    std::u32string content;
    int64_t id;
  };

  static constexpr size_t kPieceBytes = 64 << 10;
  // Appends the ids of a piece of raw text (added tokens, then segments).
  void encode_piece(std::string_view text, std::vector<int64_t>& ids) const;
  // Where the piece of `text` starting at `from` ends (see encode()).
  size_t piece_end(std::string_view text, size_t from) const;
  // Appends ids for a stretch of text that holds no added token.
  void encode_segment(std::u32string_view text, std::vector<int64_t>& ids) const;
  void encode_word(std::u32string_view word, std::vector<int64_t>& ids) const;
  std::u32string normalize(std::u32string_view text) const;

  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> vocab_;
  std::vector<AddedToken> added_tokens_;  // matched on raw text, longest first
  NormalizerOptions normalizer_;
  std::string continuing_prefix_ = "##";
  size_t max_input_chars_per_word_ = 100;
  size_t truncation_max_length_ = 0;
  int64_t unk_id_ = -1;
  int64_t cls_id_ = -1;
  int64_t sep_id_ = -1;
  int64_t pad_id_ = 0;
  bool split_at_spaces_ = true;  // false when an added token holds a space
};

}  // namespace thaw::tokenizer
