// make_text_encoder for builds without the WordPiece tokenizer: no text input.
#include "worker/text_encoder_factory.h"

namespace thaw::worker {

Result<std::unique_ptr<TextEncoder>> make_text_encoder(std::string_view) {
  return std::unique_ptr<TextEncoder>();
}

}  // namespace thaw::worker
