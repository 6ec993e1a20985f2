#include "worker/text_input.h"

#include <algorithm>
#include <cstring>

namespace thaw::worker {
namespace {

bool is_token_input(std::string_view name) {
  return name == "input_ids" || name == "attention_mask" || name == "token_type_ids";
}

void put(std::vector<std::byte>& out, size_t index, int64_t v, DType dtype) {
  if (dtype == DType::kI32) {
    int32_t x = static_cast<int32_t>(v);
    std::memcpy(out.data() + index * 4, &x, 4);
  } else {
    std::memcpy(out.data() + index * 8, &v, 8);
  }
}

}  // namespace

bool takes_token_inputs(const engine::ModelSignature& signature) {
  bool has_ids = false;
  for (const auto& in : signature.inputs) {
    if (!is_token_input(in.name)) return false;
    if (in.dtype != DType::kI64 && in.dtype != DType::kI32) return false;
    has_ids |= in.name == "input_ids";
  }
  return has_ids;
}

Result<std::vector<OwnedTensor>> tokenize_batch(const TextEncoder& encoder,
                                                std::span<const std::string> texts, size_t max_tokens,
                                                const engine::ModelSignature& signature) {
  if (!takes_token_inputs(signature))
    return make_error(Code::kUnsupported, "this model does not take token ids, so it cannot take text");
  if (texts.empty()) return make_error(Code::kInvalidArgument, "text input has no elements");
  std::vector<std::vector<int64_t>> ids;
  ids.reserve(texts.size());
  size_t longest = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto encoded = encoder.encode(texts[i], max_tokens);
    if (!encoded.is_ok()) return encoded.status().with_context(fmt::format("text[{}]", i));
    longest = std::max(longest, encoded->size());
    ids.push_back(std::move(encoded).value());
  }
  if (longest == 0) return make_error(Code::kInvalidArgument, "every text tokenized to nothing");
  const int64_t batch = static_cast<int64_t>(texts.size());
  std::vector<OwnedTensor> out;
  for (const auto& spec : signature.inputs) {
    OwnedTensor t{spec.name, spec.dtype, {batch, static_cast<int64_t>(longest)}, {}};
    t.data.resize(static_cast<size_t>(batch) * longest * dtype_size(spec.dtype));
    for (size_t b = 0; b < ids.size(); ++b) {
      for (size_t j = 0; j < longest; ++j) {
        bool real = j < ids[b].size();
        int64_t v = 0;
        if (spec.name == "input_ids") v = real ? ids[b][j] : encoder.pad_id();
        else if (spec.name == "attention_mask") v = real ? 1 : 0;
        put(t.data, b * longest + j, v, spec.dtype);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace thaw::worker
