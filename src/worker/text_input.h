// Text in, tensors out: turns a batch of strings into the token tensors a BERT-family model takes
// (input_ids, attention_mask, token_type_ids), so clients can send raw text.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "engine/backend.h"

namespace thaw::worker {

// A tokenizer as the worker needs it. Implementations wrap the bundle's tokenizer.json.
class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  // Token ids of one text with the model's special tokens ([CLS] ... [SEP]), at most
  // `max_tokens` long (truncated).
  virtual Result<std::vector<int64_t>> encode(std::string_view text, size_t max_tokens) const = 0;
  virtual int64_t pad_id() const { return 0; }
};

struct OwnedTensor {
  std::string name;
  DType dtype = DType::kI64;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;
};

// Tokenizes each text, pads the batch to its longest sequence and fills the model's inputs among
// input_ids / attention_mask / token_type_ids (INT64 or INT32, as the signature declares).
// Errors if the model takes an input this cannot fill.
Result<std::vector<OwnedTensor>> tokenize_batch(const TextEncoder& encoder,
                                                std::span<const std::string> texts, size_t max_tokens,
                                                const engine::ModelSignature& signature);

// True when `signature`'s inputs are all ones tokenize_batch() knows how to fill.
bool takes_token_inputs(const engine::ModelSignature& signature);

}  // namespace thaw::worker
