// Sample bundle contents shared by the bundle tests and the fuzz seed generator.
#pragma once

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bundle/bundle.h"

namespace thaw::bundle::testing {

// Owns the bytes that BundleContents borrows.
struct SampleModel {
  std::vector<std::vector<std::byte>> storage;
  BundleContents contents;

  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<std::byte> bytes) {
    storage.push_back(std::move(bytes));
    contents.tensors.push_back({std::move(name), dtype, std::move(shape), storage.back()});
  }
};

// Weight-like floats: normal(0, 0.02), seeded.
inline std::vector<std::byte> float_bytes(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 0.02f);
  std::vector<std::byte> out(count * 4);
  for (size_t i = 0; i < count; ++i) {
    float v = dist(rng);
    std::memcpy(out.data() + i * 4, &v, 4);
  }
  return out;
}

inline std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

// A model with a large multi-chunk tensor, mid-size and tiny tensors, an empty tensor, several
// dtypes, files and one warm-up request. `scale` multiplies the large tensors' sizes.
inline SampleModel sample_model(size_t scale = 1, uint32_t seed = 1) {
  SampleModel s;
  s.storage.reserve(16);
  s.contents.name = "sample";
  s.contents.version = "2";
  s.contents.backend = "onnx";
  s.add_tensor("embeddings", DType::kF32, {static_cast<int64_t>(300 * scale), 64}, float_bytes(300 * scale * 64, seed));
  s.add_tensor("layer.0.weight", DType::kF32, {128, 257}, float_bytes(128 * 257, seed + 1));
  s.add_tensor("layer.0.bias", DType::kF32, {7}, float_bytes(7, seed + 2));
  s.add_tensor("empty", DType::kF32, {0, 3}, {});
  s.add_tensor("half", DType::kF16, {33, 5}, random_bytes(33 * 5 * 2, seed + 3));
  s.add_tensor("ids", DType::kI64, {3, 11}, random_bytes(3 * 11 * 8, seed + 4));
  s.add_tensor("mask", DType::kU8, {1001}, random_bytes(1001, seed + 5));
  s.add_tensor("big", DType::kF32, {static_cast<int64_t>((1 << 17) * scale)}, float_bytes((1 << 17) * scale, seed + 6));
  s.contents.files.push_back({"config.json", R"({"hidden": 64})"});
  s.contents.files.push_back({"tokenizer.json", std::string(5000, 'x')});
  std::string ids(2 * 4 * 8, '\0');
  for (int i = 0; i < 8; ++i) ids[static_cast<size_t>(i) * 8] = static_cast<char>(100 + i);
  s.contents.files.push_back({"warmup/0/input_ids", ids});
  s.contents.warmup.push_back({{{"input_ids", DType::kI64, {2, 4}, "warmup/0/input_ids"}}});
  s.contents.metadata = {{"signature", {{"inputs", nlohmann::json::array()}}}};
  return s;
}

}  // namespace thaw::bundle::testing
