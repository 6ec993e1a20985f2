#include "tokenizer/wordpiece_tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/bert_chars.h"
#include "tokenizer/utf8.h"

namespace thaw::tokenizer {
namespace {

using nlohmann::json;

Status unsupported(std::string_view field, std::string_view why) {
  return make_error(Code::kUnsupported, "tokenizer.json: {} {}; thaw's built-in tokenizer reproduces BERT WordPiece only",
                    field, why);
}

// Canonical decomposition (NFD) of `text`.
std::u32string nfd(const std::u32string& text) {
  std::string utf8;
  utf8.reserve(text.size());
  for (char32_t c : text) append_utf8(c, utf8);
  std::vector<utf8proc_int32_t> buf(text.size() * 4 + 16);
  auto run = [&] {
    return utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                              static_cast<utf8proc_ssize_t>(utf8.size()), buf.data(),
                              static_cast<utf8proc_ssize_t>(buf.size()), UTF8PROC_DECOMPOSE);
  };
  utf8proc_ssize_t n = run();
  if (n > static_cast<utf8proc_ssize_t>(buf.size())) {
    buf.resize(static_cast<size_t>(n));
    n = run();
  }
  if (n < 0) return text;  // unreachable for valid code points; keep the text unchanged
  return std::u32string(buf.begin(), buf.begin() + n);
}

Result<int64_t> vocab_id(const json& vocab, const std::string& token, std::string_view field) {
  auto it = vocab.find(token);
  if (it == vocab.end() || !it->is_number_integer())
    return make_error(Code::kInvalidArgument, "tokenizer.json: {} token '{}' is not in the vocabulary", field, token);
  return it->get<int64_t>();
}

// [CLS]/[SEP] ids from a TemplateProcessing or BertProcessing post-processor.
Status read_post_processor(const json& pp, const json& vocab, int64_t& cls, int64_t& sep) {
  if (pp.is_null()) return unsupported("post_processor", "is null");
  std::string type = pp.value("type", "");
  if (type == "BertProcessing") {
    cls = pp.at("cls").at(1).get<int64_t>();
    sep = pp.at("sep").at(1).get<int64_t>();
    return Status::ok();
  }
  if (type != "TemplateProcessing") return unsupported("post_processor.type", "'" + type + "' is not supported");
  const json& single = pp.at("single");
  if (!single.is_array() || single.size() != 3 || !single[0].contains("SpecialToken") ||
      !single[1].contains("Sequence") || !single[2].contains("SpecialToken"))
    return unsupported("post_processor.single", "is not the [CLS] $A [SEP] template");
  for (const auto& piece : single) {
    const json& inner = piece.begin().value();
    if (inner.value("type_id", 0) != 0) return unsupported("post_processor.single", "uses a non-zero type_id");
  }
  auto special_id = [&](const json& piece, int64_t& out) -> Status {
    std::string name = piece.at("SpecialToken").at("id").get<std::string>();
    const json& specials = pp.at("special_tokens");
    if (specials.contains(name) && specials[name].contains("ids") && specials[name]["ids"].size() == 1) {
      out = specials[name]["ids"][0].get<int64_t>();
      return Status::ok();
    }
    THAW_ASSIGN_OR_RETURN(out, vocab_id(vocab, name, "post_processor"));
    return Status::ok();
  };
  THAW_TRY(special_id(single[0], cls));
  THAW_TRY(special_id(single[2], sep));
  return Status::ok();
}


}  // namespace

Result<WordPieceTokenizer> WordPieceTokenizer::from_json(std::string_view tokenizer_json) {
  try {
    json j = json::parse(tokenizer_json);
    const json& model = j.at("model");
    if (model.value("type", "") != "WordPiece")
      return unsupported("model.type", "'" + model.value("type", "") + "' is not WordPiece");
    const json& vocab = model.at("vocab");
    if (!vocab.is_object() || vocab.empty())
      return make_error(Code::kInvalidArgument, "tokenizer.json: model.vocab is missing or empty");

    WordPieceTokenizer t;
    t.vocab_.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer())
        return make_error(Code::kInvalidArgument, "tokenizer.json: vocabulary id of '{}' is not an integer", it.key());
      t.vocab_.emplace(it.key(), it.value().get<int64_t>());
    }
    std::string unk = model.value("unk_token", "[UNK]");
    THAW_ASSIGN_OR_RETURN(t.unk_id_, vocab_id(vocab, unk, "model.unk_token"));
    t.continuing_prefix_ = model.value("continuing_subword_prefix", "##");
    t.max_input_chars_per_word_ = model.value("max_input_chars_per_word", size_t{100});

    const json& norm = j.at("normalizer");
    if (norm.is_null()) {
      t.normalizer_ = {false, false, false, false};
    } else {
      if (norm.value("type", "") != "BertNormalizer")
        return unsupported("normalizer.type", "'" + norm.value("type", "") + "' is not BertNormalizer");
      t.normalizer_.clean_text = norm.value("clean_text", true);
      t.normalizer_.handle_chinese_chars = norm.value("handle_chinese_chars", true);
      t.normalizer_.lowercase = norm.value("lowercase", true);
      const json& strip = norm.contains("strip_accents") ? norm["strip_accents"] : json();
      t.normalizer_.strip_accents = strip.is_null() ? t.normalizer_.lowercase : strip.get<bool>();
    }
    const json& pre = j.at("pre_tokenizer");
    if (pre.is_null() || pre.value("type", "") != "BertPreTokenizer")
      return unsupported("pre_tokenizer", "is not BertPreTokenizer");
    THAW_TRY(read_post_processor(j.at("post_processor"), vocab, t.cls_id_, t.sep_id_));

    if (j.contains("truncation") && !j["truncation"].is_null()) {
      const json& tr = j["truncation"];
      if (tr.value("direction", "Right") != "Right") return unsupported("truncation.direction", "is not Right");
      t.truncation_max_length_ = tr.value("max_length", size_t{0});
    }
    if (j.contains("padding") && !j["padding"].is_null()) t.pad_id_ = j["padding"].value("pad_id", int64_t{0});

    if (j.contains("added_tokens")) {
      for (const auto& at : j["added_tokens"]) {
        std::string content = at.at("content").get<std::string>();
        if (at.value("normalized", false) || at.value("lstrip", false) || at.value("rstrip", false) ||
            at.value("single_word", false))
          return unsupported("added_tokens['" + content + "']", "uses normalized/lstrip/rstrip/single_word");
        t.added_tokens_.push_back({decode_utf8(content), at.at("id").get<int64_t>()});
        // A token spanning a space could straddle two pieces of a long text: read such texts whole.
        if (content.find_first_of(" \t\n\r") != std::string::npos) t.split_at_spaces_ = false;
      }
      std::stable_sort(t.added_tokens_.begin(), t.added_tokens_.end(),
                       [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
    }
    return t;
  } catch (const json::exception& e) {
    return make_error(Code::kInvalidArgument, "tokenizer.json is not valid: {}", e.what());
  }
}

std::u32string WordPieceTokenizer::normalize(std::u32string_view text) const {
  std::u32string s;
  s.reserve(text.size() + 8);
  for (char32_t c : text) {
    if (normalizer_.clean_text) {
      if (is_removed_by_clean_text(c)) continue;
      if (is_bert_whitespace(c)) c = U' ';
    }
    if (normalizer_.handle_chinese_chars && is_cjk_ideograph(c)) {
      s.push_back(U' ');
      s.push_back(c);
      s.push_back(U' ');
    } else {
      s.push_back(c);
    }
  }
  if (normalizer_.strip_accents) {
    std::u32string d = nfd(s);
    s.clear();
    for (char32_t c : d)
      if (!is_nonspacing_mark(c)) s.push_back(c);
  }
  if (normalizer_.lowercase) {
    std::u32string lower;
    lower.reserve(s.size());
    char32_t buf[4];
    for (char32_t c : s) {
      size_t n = append_lowercase(c, buf);
      lower.append(buf, n);
    }
    s = std::move(lower);
  }
  return s;
}

void WordPieceTokenizer::encode_word(std::u32string_view word, std::vector<int64_t>& ids) const {
  if (word.size() > max_input_chars_per_word_) {
    ids.push_back(unk_id_);
    return;
  }
  std::string utf8;
  std::vector<size_t> offsets;
  offsets.reserve(word.size() + 1);
  for (char32_t c : word) {
    offsets.push_back(utf8.size());
    append_utf8(c, utf8);
  }
  offsets.push_back(utf8.size());

  size_t first = ids.size();
  std::string key;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int64_t found = -1;
    while (start < end) {
      key.clear();
      if (start > 0) key += continuing_prefix_;
      key.append(utf8, offsets[start], offsets[end] - offsets[start]);
      auto it = vocab_.find(std::string_view(key));
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      ids.resize(first);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::encode_segment(std::u32string_view text, std::vector<int64_t>& ids) const {
  std::u32string norm = normalize(text);
  size_t word_start = 0;
  for (size_t i = 0; i <= norm.size(); ++i) {
    bool end = i == norm.size();
    char32_t c = end ? U' ' : norm[i];
    bool space = is_bert_whitespace(c);
    bool punct = !space && is_bert_punctuation(c);
    if (space || punct) {
      if (i > word_start) encode_word(std::u32string_view(norm).substr(word_start, i - word_start), ids);
      if (punct) encode_word(std::u32string_view(norm).substr(i, 1), ids);
      word_start = i + 1;
    }
  }
}

void WordPieceTokenizer::encode_piece(std::string_view text, std::vector<int64_t>& ids) const {
  std::u32string raw = decode_utf8(text);
  size_t seg_start = 0;
  for (size_t i = 0; i < raw.size();) {
    const AddedToken* match = nullptr;
    for (const auto& tok : added_tokens_) {
      if (!tok.content.empty() && raw.compare(i, tok.content.size(), tok.content) == 0) {
        match = &tok;
        break;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    if (i > seg_start) encode_segment(std::u32string_view(raw).substr(seg_start, i - seg_start), ids);
    ids.push_back(match->id);
    i += match->content.size();
    seg_start = i;
  }
  if (seg_start < raw.size()) encode_segment(std::u32string_view(raw).substr(seg_start), ids);
}

size_t WordPieceTokenizer::piece_end(std::string_view text, size_t from) const {
  auto ascii_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (!split_at_spaces_ || text.size() - from <= kPieceBytes) return text.size();
  // Just after the last ASCII space in the window: a word boundary that no step moves or crosses.
  for (size_t i = from + kPieceBytes; i > from; --i)
    if (ascii_space(text[i - 1])) return i;
  // No space in the window: cut at a character boundary (see the header).
  size_t i = from + kPieceBytes;
  while (i > from + 1 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return i;
}

Encoding WordPieceTokenizer::encode(std::string_view text, size_t max_length) const {
  size_t limit = max_length == 0 ? truncation_max_length_ : max_length;
  const size_t room = limit == 0 ? SIZE_MAX : (limit > 2 ? limit - 2 : 0);
  std::vector<int64_t> ids;
  // Piece by piece, stopping once the tokens kept are out: the work follows the tokens kept, not
  // the length of the text.
  for (size_t at = 0; at < text.size() && ids.size() < room;) {
    const size_t end = piece_end(text, at);
    encode_piece(text.substr(at, end - at), ids);
    at = end;
  }
  if (ids.size() > room) ids.resize(room);
  Encoding e;
  e.input_ids.reserve(ids.size() + 2);
  e.input_ids.push_back(cls_id_);
  e.input_ids.insert(e.input_ids.end(), ids.begin(), ids.end());
  e.input_ids.push_back(sep_id_);
  e.attention_mask.assign(e.input_ids.size(), 1);
  e.token_type_ids.assign(e.input_ids.size(), 0);
  return e;
}

BatchEncoding WordPieceTokenizer::encode_batch(std::span<const std::string_view> texts, size_t max_length) const {
  std::vector<Encoding> rows;
  rows.reserve(texts.size());
  size_t longest = 0;
  for (std::string_view t : texts) {
    rows.push_back(encode(t, max_length));
    longest = std::max(longest, rows.back().input_ids.size());
  }
  BatchEncoding b;
  b.batch = static_cast<int64_t>(rows.size());
  b.sequence = static_cast<int64_t>(longest);
  size_t total = rows.size() * longest;
  b.input_ids.assign(total, pad_id_);
  b.attention_mask.assign(total, 0);
  b.token_type_ids.assign(total, 0);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::copy(rows[r].input_ids.begin(), rows[r].input_ids.end(), b.input_ids.begin() + r * longest);
    std::copy(rows[r].attention_mask.begin(), rows[r].attention_mask.end(), b.attention_mask.begin() + r * longest);
  }
  return b;
}

}  // namespace thaw::tokenizer
