// libFuzzer target: arbitrary bytes into WordPieceTokenizer::encode / encode_batch with the real
// all-MiniLM-L6-v2 tokenizer.json. Invalid UTF-8 is read as U+FFFD; nothing may crash.
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
  if (single.input_ids.size() > 256 || single.input_ids.size() < 2) std::abort();
  size_t limit = 3 + size % 64;
  if (tok.encode(text, limit).input_ids.size() > limit) std::abort();
  std::string_view halves[] = {text.substr(0, size / 2), text.substr(size / 2)};
  auto batch = tok.encode_batch(halves, limit);
  if (batch.input_ids.size() != static_cast<size_t>(batch.batch * batch.sequence)) std::abort();
  return 0;
}
