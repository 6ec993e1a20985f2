// Reading a Hugging Face tokenizer.json into WordPieceTokenizer::Config.
#include <nlohmann/json.hpp>

#include "tokenizer/wordpiece_tokenizer.h"

namespace thaw::tokenizer {
namespace {

using json = nlohmann::json;
using Config = WordPieceTokenizer::Config;

Status unsupported(std::string_view field, std::string_view why) {
  return make_error(Code::kUnsupported, "tokenizer.json: {}: {}", field, why);
}
Status invalid(std::string_view field, std::string_view why) {
  return make_error(Code::kInvalidArgument, "tokenizer.json: {}: {}", field, why);
}

// Reads an optional boolean member; absent or null keeps `out`.
Status read_bool(const json& obj, const char* key, std::string_view path, bool& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (!it->is_boolean()) return invalid(fmt::format("{}.{}", path, key), "expected true or false");
  out = it->get<bool>();
  return Status::ok();
}

Status read_size(const json& obj, const char* key, std::string_view path, size_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (!it->is_number_unsigned())
    return invalid(fmt::format("{}.{}", path, key), "expected a non-negative integer");
  out = it->get<size_t>();
  return Status::ok();
}

std::string type_of(const json& obj) {
  auto it = obj.find("type");
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status parse_model(const json& model, Config& c) {
  if (!model.is_object()) return invalid("model", "expected an object");
  std::string type = type_of(model);
  if (!type.empty() && type != "WordPiece")
    return unsupported("model.type", fmt::format("'{}' (only WordPiece is supported)", type));
  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object() || vocab->empty())
    return invalid("model.vocab", "expected a non-empty object of token -> id");
  c.vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX)
      return invalid("model.vocab", fmt::format("token '{}' has no valid id", it.key()));
    c.vocab.emplace(it.key(), static_cast<int32_t>(it->get<int64_t>()));
  }
  auto unk = model.find("unk_token");
  if (unk == model.end() || !unk->is_string()) return invalid("model.unk_token", "expected a string");
  auto unk_it = c.vocab.find(unk->get<std::string>());
  if (unk_it == c.vocab.end())
    return invalid("model.unk_token", fmt::format("'{}' is not in the vocabulary", unk->get<std::string>()));
  c.unk_id = unk_it->second;
  auto prefix = model.find("continuing_subword_prefix");
  if (prefix != model.end() && !prefix->is_null()) {
    if (!prefix->is_string()) return invalid("model.continuing_subword_prefix", "expected a string");
    c.continuing_subword_prefix = prefix->get<std::string>();
  }
  return read_size(model, "max_input_chars_per_word", "model", c.max_input_chars_per_word);
}

Status parse_normalizer(const json& n, Config& c) {
  if (n.is_null()) return Status::ok();
  if (!n.is_object()) return invalid("normalizer", "expected an object or null");
  std::string type = type_of(n);
  if (type != "BertNormalizer")
    return unsupported("normalizer.type", fmt::format("'{}' (only BertNormalizer is supported)", type));
  c.has_normalizer = true;
  BertNormalizerOptions& o = c.normalizer;
  THAW_TRY(read_bool(n, "clean_text", "normalizer", o.clean_text));
  THAW_TRY(read_bool(n, "handle_chinese_chars", "normalizer", o.handle_chinese_chars));
  THAW_TRY(read_bool(n, "lowercase", "normalizer", o.lowercase));
  o.strip_accents = o.lowercase;  // null follows lowercase
  return read_bool(n, "strip_accents", "normalizer", o.strip_accents);
}

Status parse_pre_tokenizer(const json& p) {
  if (!p.is_object() || type_of(p) != "BertPreTokenizer")
    return unsupported("pre_tokenizer", "only BertPreTokenizer is supported");
  return Status::ok();
}

Result<std::vector<WordPieceTokenizer::TemplateItem>> parse_template(const json& items,
                                                                     const json& specials,
                                                                     const std::string& field) {
  if (!items.is_array()) return invalid(field, "expected an array");
  std::vector<WordPieceTokenizer::TemplateItem> out;
  for (size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    std::string f = fmt::format("{}[{}]", field, i);
    WordPieceTokenizer::TemplateItem t;
    const json* body = nullptr;
    if (item.is_object() && item.contains("Sequence")) {
      body = &item["Sequence"];
      t.is_sequence = true;
      std::string id = body->is_object() ? body->value("id", "") : "";
      if (id != "A" && id != "B") return invalid(f, "Sequence.id must be A or B");
      t.sequence = id == "A" ? 0 : 1;
    } else if (item.is_object() && item.contains("SpecialToken")) {
      body = &item["SpecialToken"];
      if (!body->is_object() || !(*body)["id"].is_string()) return invalid(f, "SpecialToken.id must be a string");
      std::string name = (*body)["id"].get<std::string>();
      auto sp = specials.is_object() ? specials.find(name) : specials.end();
      if (sp == specials.end() || !sp->is_object() || !(*sp)["ids"].is_array())
        return invalid(f, fmt::format("special token '{}' is missing from special_tokens", name));
      for (const json& id : (*sp)["ids"]) {
        if (!id.is_number_unsigned() || id.get<uint64_t>() > INT32_MAX)
          return invalid(f, fmt::format("special token '{}' has an invalid id", name));
        t.ids.push_back(static_cast<int32_t>(id.get<uint64_t>()));
      }
    } else {
      return invalid(f, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    auto type_id = body->find("type_id");
    if (type_id != body->end()) {
      if (!type_id->is_number_unsigned()) return invalid(f, "type_id must be a non-negative integer");
      t.type_id = type_id->get<int64_t>();
    }
    out.push_back(std::move(t));
  }
  return out;
}

Status parse_post_processor(const json& p, Config& c) {
  using Item = WordPieceTokenizer::TemplateItem;
  if (p.is_null()) {
    c.single_template = {Item{true, 0, {}, 0}};
    c.pair_template = {Item{true, 0, {}, 0}, Item{true, 1, {}, 1}};
    return Status::ok();
  }
  std::string type = p.is_object() ? type_of(p) : "";
  if (type == "TemplateProcessing") {
    THAW_ASSIGN_OR_RETURN(c.single_template,
                          parse_template(p.value("single", json()), p.value("special_tokens", json()),
                                         "post_processor.single"));
    THAW_ASSIGN_OR_RETURN(c.pair_template,
                          parse_template(p.value("pair", json()), p.value("special_tokens", json()),
                                         "post_processor.pair"));
    for (const Item& t : c.single_template)
      if (t.is_sequence && t.sequence != 0)
        return invalid("post_processor.single", "may only use sequence A");
    return Status::ok();
  }
  if (type == "BertProcessing") {
    auto token = [&](const char* key) -> Result<int32_t> {
      auto it = p.find(key);
      if (it == p.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_unsigned())
        return invalid(fmt::format("post_processor.{}", key), "expected [token, id]");
      return static_cast<int32_t>((*it)[1].get<uint32_t>());
    };
    THAW_ASSIGN_OR_RETURN(int32_t cls, token("cls"));
    THAW_ASSIGN_OR_RETURN(int32_t sep, token("sep"));
    c.single_template = {Item{false, 0, {cls}, 0}, Item{true, 0, {}, 0}, Item{false, 0, {sep}, 0}};
    c.pair_template = {Item{false, 0, {cls}, 0}, Item{true, 0, {}, 0}, Item{false, 0, {sep}, 0},
                       Item{true, 1, {}, 1}, Item{false, 0, {sep}, 1}};
    return Status::ok();
  }
  return unsupported("post_processor.type",
                     fmt::format("'{}' (only TemplateProcessing and BertProcessing are supported)", type));
}

Status parse_added_tokens(const json& added, Config& c) {
  if (added.is_null()) return Status::ok();
  if (!added.is_array()) return invalid("added_tokens", "expected an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const json& t = added[i];
    std::string f = fmt::format("added_tokens[{}]", i);
    if (!t.is_object() || !t["content"].is_string() || !t["id"].is_number_unsigned() ||
        t["id"].get<uint64_t>() > INT32_MAX)
      return invalid(f, "expected an object with string content and an integer id");
    std::string content = t["content"].get<std::string>();
    if (content.empty()) return invalid(f, "content is empty");
    for (const char* flag : {"single_word", "lstrip", "rstrip", "normalized"}) {
      auto it = t.find(flag);
      if (it != t.end() && it->is_boolean() && it->get<bool>())
        return unsupported(fmt::format("{}.{}", f, flag), fmt::format("true is not supported (token '{}')", content));
    }
    c.added_tokens.emplace_back(std::move(content), static_cast<int32_t>(t["id"].get<uint64_t>()));
  }
  return Status::ok();
}

Status parse_truncation(const json& t, Config& c) {
  if (t.is_null()) return Status::ok();
  if (!t.is_object()) return invalid("truncation", "expected an object or null");
  size_t max_length = 0, stride = 0;
  THAW_TRY(read_size(t, "max_length", "truncation", max_length));
  THAW_TRY(read_size(t, "stride", "truncation", stride));
  if (stride != 0) return unsupported("truncation.stride", "only 0 is supported");
  std::string strategy = t.value("strategy", "LongestFirst");
  if (strategy != "LongestFirst")
    return unsupported("truncation.strategy", fmt::format("'{}' (only LongestFirst is supported)", strategy));
  std::string direction = t.value("direction", "Right");
  if (direction != "Right")
    return unsupported("truncation.direction", fmt::format("'{}' (only Right is supported)", direction));
  c.truncation_max_length = max_length;
  return Status::ok();
}

Status parse_padding(const json& p, Config& c) {
  if (p.is_null()) {
    auto pad = c.vocab.find("[PAD]");
    if (pad != c.vocab.end()) c.pad_id = pad->second;
    return Status::ok();
  }
  if (!p.is_object()) return invalid("padding", "expected an object or null");
  size_t pad_id = 0, pad_type_id = 0;
  THAW_TRY(read_size(p, "pad_id", "padding", pad_id));
  THAW_TRY(read_size(p, "pad_type_id", "padding", pad_type_id));
  THAW_TRY(read_size(p, "pad_to_multiple_of", "padding", c.pad_to_multiple_of));
  c.pad_id = static_cast<int64_t>(pad_id);
  c.pad_type_id = static_cast<int64_t>(pad_type_id);
  std::string direction = p.value("direction", "Right");
  if (direction != "Right" && direction != "Left")
    return invalid("padding.direction", fmt::format("'{}' (expected Right or Left)", direction));
  c.pad_left = direction == "Left";
  return Status::ok();
}

}  // namespace

Result<Config> parse_tokenizer_json(std::string_view tokenizer_json) {
  json doc = json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("(document)", "not valid JSON");
  if (!doc.is_object()) return invalid("(document)", "expected a JSON object");
  Config c;
  try {
    THAW_TRY(parse_model(doc.value("model", json()), c));
    THAW_TRY(parse_added_tokens(doc.value("added_tokens", json()), c));
    THAW_TRY(parse_normalizer(doc.value("normalizer", json()), c));
    THAW_TRY(parse_pre_tokenizer(doc.value("pre_tokenizer", json())));
    THAW_TRY(parse_post_processor(doc.value("post_processor", json()), c));
    THAW_TRY(parse_truncation(doc.value("truncation", json()), c));
    THAW_TRY(parse_padding(doc.value("padding", json()), c));
  } catch (const json::exception& e) {  // a member of an unexpected JSON type
    return invalid("(document)", e.what());
  }
  return c;
}

}  // namespace thaw::tokenizer
