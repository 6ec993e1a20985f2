// make_text_encoder over the tokenizer module's WordPiece (tokenizer.json of BERT-family models).
#include "worker/text_encoder_factory.h"

#include "tokenizer/wordpiece_tokenizer.h"

namespace thaw::worker {
namespace {

class WordPieceEncoder final : public TextEncoder {
 public:
  explicit WordPieceEncoder(tokenizer::WordPieceTokenizer wp)
      : wp_(std::move(wp)), pad_id_(wp_.token_id("[PAD]").value_or(0)) {}

  Result<std::vector<int64_t>> encode(std::string_view text, size_t max_tokens) const override {
    THAW_ASSIGN_OR_RETURN(tokenizer::Encoding e, wp_.encode(text, max_tokens));
    return std::move(e.input_ids);
  }
  int64_t pad_id() const override { return pad_id_; }

 private:
  tokenizer::WordPieceTokenizer wp_;
  int64_t pad_id_;
};

}  // namespace

Result<std::unique_ptr<TextEncoder>> make_text_encoder(std::string_view tokenizer_json) {
  THAW_ASSIGN_OR_RETURN(auto wp, tokenizer::WordPieceTokenizer::from_json(tokenizer_json));
  return std::unique_ptr<TextEncoder>(std::make_unique<WordPieceEncoder>(std::move(wp)));
}

}  // namespace thaw::worker
