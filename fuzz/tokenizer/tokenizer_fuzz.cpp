// libFuzzer target: arbitrary bytes into WordPieceTokenizer::encode / encode_pair with the real
// all-MiniLM-L6-v2 tokenizer.json. Invalid UTF-8 must come back as an error, never a crash.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tokenizer/wordpiece_tokenizer.h"

namespace {

const thaw::tokenizer::WordPieceTokenizer& tokenizer() {
  static const thaw::tokenizer::WordPieceTokenizer tok = [] {
    const char* env = std::getenv("THAW_TOKENIZER_JSON");
    std::string path = env != nullptr ? env : THAW_SOURCE_DIR "/models/src/minilm/tokenizer.json";
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = thaw::tokenizer::WordPieceTokenizer::from_json(ss.str());
    if (!r.is_ok()) std::abort();
    return std::move(r).value();
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& tok = tokenizer();
  auto single = tok.encode(text, 256);
  if (single.is_ok() && (single->input_ids.size() > 256 || single->input_ids.size() < 2)) std::abort();
  size_t cut = size / 2;
  auto pair = tok.encode_pair(text.substr(0, cut), text.substr(cut), 16 + size % 64);
  if (pair.is_ok() && pair->input_ids.size() > 16 + size % 64) std::abort();
  // encode and tokenize agree on what is valid input.
  if (single.is_ok() != tok.tokenize(text).is_ok()) std::abort();
  return 0;
}
