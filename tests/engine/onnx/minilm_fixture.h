// Shared test inputs: MiniLM in the bundle layout, memory-mapped like the loader does, and the
// Hugging Face reference (token ids and sentence-transformers embeddings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace thaw::engine::testing {

// A read-only mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(ptr_), size_}; }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

std::string read_file(const std::string& path);
std::string minilm_dir();  // holds graph.onnx and thaw.data

struct ReferenceSentence {
  std::vector<int64_t> input_ids;
  std::vector<float> embedding;
};
std::vector<ReferenceSentence> load_reference();

// Request tensors for one sentence: attention all ones, token types all zeros. The returned
// tensors borrow from `storage`.
struct EncodedRequest {
  std::vector<int64_t> ids, mask, types;
  std::vector<InputTensor> tensors;
};
EncodedRequest encode(const ReferenceSentence& s);

double cosine(std::span<const std::byte> f32_bytes, const std::vector<float>& expected);

}  // namespace thaw::engine::testing
