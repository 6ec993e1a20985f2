#include "tokenizer/wordpiece_tokenizer.h"

#include <algorithm>

#include "tokenizer/bert_unicode.h"

namespace thaw::tokenizer {
namespace {

// Strict UTF-8 decoding: rejects overlong forms, surrogates and code points past U+10FFFF.
// Returns the number of bytes consumed, or 0 when the bytes at `p` are not valid UTF-8.
size_t decode_utf8(const unsigned char* p, size_t n, char32_t& cp) {
  unsigned char b0 = p[0];
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  auto cont = [&](size_t i) { return i < n && (p[i] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return 0;
    cp = (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    cp = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    cp = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
         (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    return 4;
  }
  return 0;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t count_special(const std::vector<WordPieceTokenizer::TemplateItem>& tmpl) {
  size_t n = 0;
  for (const auto& t : tmpl) n += t.ids.size();
  return n;
}

}  // namespace

Result<WordPieceTokenizer> WordPieceTokenizer::from_json(std::string_view tokenizer_json) {
  THAW_ASSIGN_OR_RETURN(Config config, parse_tokenizer_json(tokenizer_json));
  return WordPieceTokenizer(std::move(config));
}

WordPieceTokenizer::WordPieceTokenizer(Config c)
    : vocab_(std::move(c.vocab)),
      unk_id_(c.unk_id),
      prefix_(std::move(c.continuing_subword_prefix)),
      max_input_chars_per_word_(c.max_input_chars_per_word),
      has_normalizer_(c.has_normalizer),
      normalizer_(c.normalizer),
      added_tokens_(std::move(c.added_tokens)),
      single_template_(std::move(c.single_template)),
      pair_template_(std::move(c.pair_template)),
      truncation_max_length_(c.truncation_max_length),
      pad_id_(c.pad_id),
      pad_type_id_(c.pad_type_id),
      pad_left_(c.pad_left),
      pad_to_multiple_of_(c.pad_to_multiple_of) {
  for (const auto& entry : vocab_) longest_token_bytes_ = std::max(longest_token_bytes_, entry.first.size());
  for (const auto& [content, id] : added_tokens_)
    added_first_byte_[static_cast<unsigned char>(content[0])] = true;
  single_special_count_ = count_special(single_template_);
  pair_special_count_ = count_special(pair_template_);
}

std::optional<int32_t> WordPieceTokenizer::token_id(std::string_view token) const {
  for (const auto& [content, id] : added_tokens_)
    if (content == token) return id;
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

// Greedy longest-match-first over one word; a word with any unmatched rest becomes [UNK].
void WordPieceTokenizer::wordpiece(const char32_t* word, size_t n, std::vector<int32_t>& ids) const {
  if (n > max_input_chars_per_word_) {
    ids.push_back(unk_id_);
    return;
  }
  thread_local std::string utf8;
  thread_local std::vector<size_t> bounds;  // byte offset of each character, plus the end
  thread_local std::string candidate;
  utf8.clear();
  bounds.clear();
  for (size_t i = 0; i < n; ++i) {
    bounds.push_back(utf8.size());
    append_utf8(word[i], utf8);
  }
  bounds.push_back(utf8.size());
  size_t mark = ids.size();
  size_t start = 0;
  while (start < n) {
    // Longest candidate that could be in the vocabulary: a forward walk keeps long words linear.
    const size_t prefix_bytes = start == 0 ? 0 : prefix_.size();
    size_t end = start;
    while (end < n && prefix_bytes + bounds[end + 1] - bounds[start] <= longest_token_bytes_) ++end;
    int32_t found = -1;
    while (start < end) {
      std::string_view piece(utf8.data() + bounds[start], bounds[end] - bounds[start]);
      Vocab::const_iterator it;
      if (start == 0) {
        it = vocab_.find(piece);
      } else {
        candidate.assign(prefix_);
        candidate.append(piece);
        it = vocab_.find(std::string_view(candidate));
      }
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      ids.resize(mark);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

// Normalises, splits on whitespace and punctuation, and word-pieces one stretch of text that holds
// no added token. `utf8` is already validated.
void WordPieceTokenizer::tokenize_segment(std::string_view utf8, std::vector<int32_t>& ids,
                                          size_t limit) const {
  thread_local std::u32string raw, normalized, scratch;
  raw.clear();
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  for (size_t i = 0; i < utf8.size();) {
    char32_t cp = 0;
    size_t len = decode_utf8(p + i, utf8.size() - i, cp);
    raw.push_back(cp);
    i += len;
  }
  const std::u32string* text = &raw;
  if (has_normalizer_) {
    bert_normalize(raw, normalizer_, normalized, scratch);
    text = &normalized;
  }
  size_t word_start = 0;
  const size_t n = text->size();
  for (size_t i = 0; i < n && ids.size() < limit; ++i) {
    char32_t cp = (*text)[i];
    if (is_bert_whitespace(cp)) {
      if (i > word_start) wordpiece(text->data() + word_start, i - word_start, ids);
      word_start = i + 1;
    } else if (is_bert_punctuation(cp)) {
      if (i > word_start) wordpiece(text->data() + word_start, i - word_start, ids);
      wordpiece(text->data() + i, 1, ids);
      word_start = i + 1;
    }
  }
  if (n > word_start && ids.size() < limit) wordpiece(text->data() + word_start, n - word_start, ids);
}

// Splits raw text on added tokens (leftmost, then longest match) and tokenizes the rest.
Status WordPieceTokenizer::tokenize_into(std::string_view text, std::vector<int32_t>& ids,
                                         size_t limit) const {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    size_t len = decode_utf8(p + i, text.size() - i, cp);
    if (len == 0)
      return make_error(Code::kInvalidArgument, "text is not valid UTF-8 (bad byte 0x{:02x} at offset {})",
                        p[i], i);
    i += len;
  }
  size_t segment_start = 0;
  for (size_t i = 0; i < text.size() && ids.size() < limit; ++i) {
    if (!added_first_byte_[p[i]]) continue;
    const std::pair<std::string, int32_t>* best = nullptr;
    for (const auto& added : added_tokens_) {
      if (text.substr(i).starts_with(added.first) &&
          (best == nullptr || added.first.size() > best->first.size()))
        best = &added;
    }
    if (best == nullptr) continue;
    if (i > segment_start) tokenize_segment(text.substr(segment_start, i - segment_start), ids, limit);
    ids.push_back(best->second);
    i += best->first.size() - 1;
    segment_start = i + 1;
  }
  if (text.size() > segment_start && ids.size() < limit)
    tokenize_segment(text.substr(segment_start), ids, limit);
  return Status::ok();
}

Result<std::vector<int32_t>> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<int32_t> ids;
  THAW_TRY(tokenize_into(text, ids));
  return ids;
}

Result<size_t> WordPieceTokenizer::resolve_max_length(size_t max_length, size_t n_special) const {
  if (max_length == kDefaultMaxLength) {
    if (!truncation_max_length_) return kNoTruncation;
    max_length = *truncation_max_length_;
  }
  if (max_length == kNoTruncation) return kNoTruncation;
  if (max_length < n_special)
    return make_error(Code::kInvalidArgument, "max_length {} leaves no room for the {} special tokens",
                      max_length, n_special);
  return max_length - n_special;
}

Encoding WordPieceTokenizer::apply_template(const std::vector<TemplateItem>& tmpl,
                                            const std::vector<int32_t>& a,
                                            const std::vector<int32_t>* b) const {
  Encoding e;
  for (const TemplateItem& t : tmpl) {
    const std::vector<int32_t>* src = &t.ids;
    if (t.is_sequence) src = t.sequence == 0 ? &a : b;
    if (src == nullptr) continue;
    for (int32_t id : *src) {
      e.input_ids.push_back(id);
      e.token_type_ids.push_back(t.type_id);
    }
  }
  e.attention_mask.assign(e.input_ids.size(), 1);
  return e;
}

Result<Encoding> WordPieceTokenizer::encode(std::string_view text, size_t max_length) const {
  THAW_ASSIGN_OR_RETURN(size_t budget, resolve_max_length(max_length, single_special_count_));
  std::vector<int32_t> ids;
  THAW_TRY(tokenize_into(text, ids, budget));
  if (ids.size() > budget) ids.resize(budget);
  return apply_template(single_template_, ids, nullptr);
}

Result<Encoding> WordPieceTokenizer::encode_pair(std::string_view a, std::string_view b,
                                                 size_t max_length) const {
  THAW_ASSIGN_OR_RETURN(size_t budget, resolve_max_length(max_length, pair_special_count_));
  std::vector<int32_t> ids_a, ids_b;
  THAW_TRY(tokenize_into(a, ids_a));
  THAW_TRY(tokenize_into(b, ids_b));
  if (ids_a.size() + ids_b.size() > budget) {
    // Longest first: the shorter side keeps what it can up to half the budget; the longer side
    // gets the rest.
    size_t n1 = ids_a.size(), n2 = ids_b.size();
    bool swapped = n1 > n2;
    if (swapped) std::swap(n1, n2);
    if (n1 > budget) {
      n2 = n1;
    } else {
      n2 = std::max(n1, budget - n1);
    }
    if (n1 + n2 > budget) {
      n1 = budget / 2;
      n2 = n1 + budget % 2;
    }
    if (swapped) std::swap(n1, n2);
    ids_a.resize(std::min(ids_a.size(), n1));
    ids_b.resize(std::min(ids_b.size(), n2));
  }
  return apply_template(pair_template_, ids_a, &ids_b);
}

Result<BatchEncoding> WordPieceTokenizer::encode_batch(const std::vector<std::string>& texts,
                                                       size_t max_length) const {
  std::vector<Encoding> encodings;
  encodings.reserve(texts.size());
  size_t longest = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    Result<Encoding> e = encode(texts[i], max_length);
    if (!e.is_ok()) return e.status().with_context(fmt::format("text {}", i));
    longest = std::max(longest, e->input_ids.size());
    encodings.push_back(std::move(e).value());
  }
  if (pad_to_multiple_of_ > 0 && longest % pad_to_multiple_of_ != 0)
    longest += pad_to_multiple_of_ - longest % pad_to_multiple_of_;
  BatchEncoding batch;
  batch.batch_size = texts.size();
  batch.seq_len = longest;
  batch.input_ids.assign(texts.size() * longest, pad_id_);
  batch.attention_mask.assign(texts.size() * longest, 0);
  batch.token_type_ids.assign(texts.size() * longest, pad_type_id_);
  for (size_t i = 0; i < encodings.size(); ++i) {
    const Encoding& e = encodings[i];
    size_t offset = i * longest + (pad_left_ ? longest - e.input_ids.size() : 0);
    std::copy(e.input_ids.begin(), e.input_ids.end(), batch.input_ids.begin() + offset);
    std::copy(e.attention_mask.begin(), e.attention_mask.end(), batch.attention_mask.begin() + offset);
    std::copy(e.token_type_ids.begin(), e.token_type_ids.end(), batch.token_type_ids.begin() + offset);
  }
  return batch;
}

}  // namespace thaw::tokenizer
