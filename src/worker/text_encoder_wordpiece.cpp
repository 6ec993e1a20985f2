// make_text_encoder backed by the tokenizer module's BERT WordPiece.
#include "tokenizer/wordpiece_tokenizer.h"
#include "worker/text_encoder_factory.h"

namespace thaw::worker {
namespace {

class WordPieceEncoder final : public TextEncoder {
 public:
  explicit WordPieceEncoder(tokenizer::WordPieceTokenizer tok) : tok_(std::move(tok)) {}
  Result<std::vector<int64_t>> encode(std::string_view text, size_t max_tokens) const override {
    return tok_.encode(text, max_tokens).input_ids;
  }
  int64_t pad_id() const override { return tok_.pad_id(); }

 private:
  tokenizer::WordPieceTokenizer tok_;
};

}  // namespace

Result<std::unique_ptr<TextEncoder>> make_text_encoder(std::string_view tokenizer_json) {
  auto tok = tokenizer::WordPieceTokenizer::from_json(tokenizer_json);
  if (!tok.is_ok()) return tok.status().with_context("reading the bundle's tokenizer.json");
  return std::unique_ptr<TextEncoder>(std::make_unique<WordPieceEncoder>(std::move(tok).value()));
}

}  // namespace thaw::worker
