// Small real Backend and TextEncoder implementations for exercising the worker without ONNX
// Runtime: arithmetic a test can check by hand.
#pragma once

#include <cstring>
#include <sstream>

#include "engine/backend.h"
#include "worker/text_input.h"

namespace thaw::worker::testing {

// y[b] = sum_j x[b, j] for x FP32 [batch, 3].
class RowSumBackend final : public engine::Backend {
 public:
  RowSumBackend() {
    sig_.inputs = {{"x", DType::kF32, {-1, 3}}};
    sig_.outputs = {{"y", DType::kF32, {-1}}, {"count", DType::kI64, {1}}};
  }
  const engine::ModelSignature& signature() const override { return sig_; }
  Result<std::vector<engine::OutputTensor>> infer(std::span<const engine::InputTensor> inputs,
                                                  std::span<const std::string> outputs) override {
    if (inputs.size() != 1 || inputs[0].name != "x") return make_error(Code::kInvalidArgument, "need x");
    calls++;
    const auto& x = inputs[0];
    int64_t batch = x.shape[0];
    std::vector<float> v(static_cast<size_t>(batch * 3));
    std::memcpy(v.data(), x.data.data(), v.size() * 4);
    engine::OutputTensor y{"y", DType::kF32, {batch}, std::vector<std::byte>(static_cast<size_t>(batch) * 4)};
    for (int64_t b = 0; b < batch; ++b) {
      float s = v[b * 3] + v[b * 3 + 1] + v[b * 3 + 2];
      std::memcpy(y.data.data() + b * 4, &s, 4);
    }
    engine::OutputTensor count{"count", DType::kI64, {1}, std::vector<std::byte>(8)};
    int64_t n = batch;
    std::memcpy(count.data.data(), &n, 8);
    std::vector<engine::OutputTensor> out;
    for (auto* t : {&y, &count}) {
      bool want = outputs.empty();
      for (const auto& o : outputs) want |= o == t->name;
      if (want) out.push_back(std::move(*t));
    }
    return out;
  }
  int calls = 0;

 private:
  engine::ModelSignature sig_;
};

// A token model: tokens[b] = sum of attention_mask[b, :] (how many real tokens row b has),
// first[b] = input_ids[b, 0].
class TokenCountBackend final : public engine::Backend {
 public:
  TokenCountBackend() {
    sig_.inputs = {{"input_ids", DType::kI64, {-1, -1}}, {"attention_mask", DType::kI64, {-1, -1}},
                   {"token_type_ids", DType::kI64, {-1, -1}}};
    sig_.outputs = {{"tokens", DType::kI64, {-1}}, {"first", DType::kI64, {-1}}};
  }
  const engine::ModelSignature& signature() const override { return sig_; }
  Result<std::vector<engine::OutputTensor>> infer(std::span<const engine::InputTensor> inputs,
                                                  std::span<const std::string>) override {
    const engine::InputTensor* ids = nullptr;
    const engine::InputTensor* mask = nullptr;
    for (const auto& in : inputs) {
      if (in.name == "input_ids") ids = &in;
      if (in.name == "attention_mask") mask = &in;
    }
    if (!ids || !mask) return make_error(Code::kInvalidArgument, "need ids and mask");
    int64_t batch = mask->shape[0], len = mask->shape[1];
    engine::OutputTensor tokens{"tokens", DType::kI64, {batch}, std::vector<std::byte>(static_cast<size_t>(batch) * 8)};
    engine::OutputTensor first{"first", DType::kI64, {batch}, std::vector<std::byte>(static_cast<size_t>(batch) * 8)};
    for (int64_t b = 0; b < batch; ++b) {
      int64_t n = 0, m, f;
      for (int64_t j = 0; j < len; ++j) {
        std::memcpy(&m, mask->data.data() + (b * len + j) * 8, 8);
        n += m;
      }
      std::memcpy(&f, ids->data.data() + b * len * 8, 8);
      std::memcpy(tokens.data.data() + b * 8, &n, 8);
      std::memcpy(first.data.data() + b * 8, &f, 8);
    }
    std::vector<engine::OutputTensor> out;
    out.push_back(std::move(tokens));
    out.push_back(std::move(first));
    return out;
  }

 private:
  engine::ModelSignature sig_;
};

// Whitespace words; id = 100 + word length; [CLS]=101... here 1 and [SEP]=2 frame each text.
class WordLengthEncoder final : public TextEncoder {
 public:
  Result<std::vector<int64_t>> encode(std::string_view text, size_t max_tokens) const override {
    std::vector<int64_t> ids = {1};
    std::istringstream words{std::string(text)};
    std::string w;
    while (words >> w) ids.push_back(100 + static_cast<int64_t>(w.size()));
    ids.push_back(2);
    if (ids.size() > max_tokens) {
      ids.resize(max_tokens);
      ids.back() = 2;
    }
    return ids;
  }
};

}  // namespace thaw::worker::testing
