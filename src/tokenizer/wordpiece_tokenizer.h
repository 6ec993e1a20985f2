// BERT-family WordPiece tokenizer configured from a Hugging Face tokenizer.json. Produces the same
// ids as Hugging Face `tokenizers` for the configurations it accepts; from_json rejects the others
// (naming the field) rather than tokenizing differently.
//
// Input text must be valid UTF-8: anything else is rejected with kInvalidArgument (Hugging Face
// only ever sees valid Unicode strings, so there is no reference behaviour to copy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "tokenizer/bert_normalizer.h"

namespace thaw::tokenizer {

// One encoded sequence: special tokens added, truncated, not padded.
struct Encoding {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> token_type_ids;
};

// A padded batch laid out row-major as [batch_size, seq_len] int64 tensors, the inputs BERT-style
// ONNX models take (input_ids, attention_mask, token_type_ids).
struct BatchEncoding {
  size_t batch_size = 0;
  size_t seq_len = 0;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;
  std::vector<int64_t> token_type_ids;
};

// Passing this as max_length to the encode functions uses the tokenizer.json truncation setting.
inline constexpr size_t kDefaultMaxLength = 0;
// Passing this as max_length turns truncation off.
inline constexpr size_t kNoTruncation = std::numeric_limits<size_t>::max();

class WordPieceTokenizer {
 public:
  // Parses a tokenizer.json (model WordPiece, normalizer BertNormalizer or null, pre-tokenizer
  // BertPreTokenizer, post-processor TemplateProcessing/BertProcessing or null).
  static Result<WordPieceTokenizer> from_json(std::string_view tokenizer_json);

  // Word pieces of `text` without special tokens or truncation.
  Result<std::vector<int32_t>> tokenize(std::string_view text) const;
  // [CLS] text [SEP] (per the post-processor), truncated to max_length tokens in total.
  Result<Encoding> encode(std::string_view text, size_t max_length = kDefaultMaxLength) const;
  // [CLS] a [SEP] b [SEP], truncating the longer side first.
  Result<Encoding> encode_pair(std::string_view a, std::string_view b,
                               size_t max_length = kDefaultMaxLength) const;
  // Encodes each text and pads all to the longest (and to pad_to_multiple_of, if configured).
  Result<BatchEncoding> encode_batch(const std::vector<std::string>& texts,
                                     size_t max_length = kDefaultMaxLength) const;

  // Id of a vocabulary or added token.
  std::optional<int32_t> token_id(std::string_view token) const;
  size_t vocab_size() const { return vocab_.size(); }
  // tokenizer.json's truncation.max_length, or nullopt when it sets none.
  std::optional<size_t> configured_max_length() const { return truncation_max_length_; }

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  // One item of a post-processing template: a special token or the A/B sequence.
  struct TemplateItem {
    bool is_sequence = false;
    int sequence = 0;              // 0 = A, 1 = B (when is_sequence)
    std::vector<int32_t> ids;      // special token ids (when !is_sequence)
    int64_t type_id = 0;
  };

  // Internal configuration, filled by from_json.
  struct Config {
    Vocab vocab;
    int32_t unk_id = 0;
    std::string continuing_subword_prefix = "##";
    size_t max_input_chars_per_word = 100;
    bool has_normalizer = false;
    BertNormalizerOptions normalizer;
    std::vector<std::pair<std::string, int32_t>> added_tokens;  // matched verbatim in raw text
    std::vector<TemplateItem> single_template;
    std::vector<TemplateItem> pair_template;
    std::optional<size_t> truncation_max_length;
    int64_t pad_id = 0;
    int64_t pad_type_id = 0;
    bool pad_left = false;
    size_t pad_to_multiple_of = 0;
  };

 private:
  explicit WordPieceTokenizer(Config config);
  // Appends word pieces to `ids`, stopping early once it holds `limit` (later ones would be cut).
  Status tokenize_into(std::string_view text, std::vector<int32_t>& ids,
                       size_t limit = kNoTruncation) const;
  void tokenize_segment(std::string_view utf8, std::vector<int32_t>& ids, size_t limit) const;
  void wordpiece(const char32_t* word, size_t n, std::vector<int32_t>& ids) const;
  Result<size_t> resolve_max_length(size_t max_length, size_t n_special) const;
  Encoding apply_template(const std::vector<TemplateItem>& tmpl, const std::vector<int32_t>& a,
                          const std::vector<int32_t>* b) const;

  Vocab vocab_;
  int32_t unk_id_;
  std::string prefix_;
  size_t max_input_chars_per_word_;
  size_t longest_token_bytes_ = 0;  // no longer candidate can match, so none is looked up
  bool has_normalizer_;
  BertNormalizerOptions normalizer_;
  std::vector<std::pair<std::string, int32_t>> added_tokens_;
  bool added_first_byte_[256] = {};
  std::vector<TemplateItem> single_template_;
  std::vector<TemplateItem> pair_template_;
  size_t single_special_count_ = 0;
  size_t pair_special_count_ = 0;
  std::optional<size_t> truncation_max_length_;
  int64_t pad_id_;
  int64_t pad_type_id_;
  bool pad_left_;
  size_t pad_to_multiple_of_;
};

// Parses tokenizer.json into a Config; errors name the offending field.
Result<WordPieceTokenizer::Config> parse_tokenizer_json(std::string_view tokenizer_json);

}  // namespace thaw::tokenizer
