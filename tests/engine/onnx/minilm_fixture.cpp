#include "minilm_fixture.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace thaw::engine::testing {

MappedFile::MappedFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  struct stat st {};
  ::fstat(fd, &st);
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    ptr_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (ptr_ == MAP_FAILED) {
      ::close(fd);
      throw std::runtime_error("cannot map " + path);
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (ptr_ != nullptr) ::munmap(ptr_, size_);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string minilm_dir() { return ENGINE_MINILM_DIR; }

std::vector<ReferenceSentence> load_reference() {
  auto j = nlohmann::json::parse(read_file(std::string(THAW_SOURCE_DIR) + "/models/src/minilm/reference.json"));
  std::vector<ReferenceSentence> out;
  const auto& ids = j.at("input_ids");
  const auto& emb = j.at("embeddings");
  for (size_t i = 0; i < ids.size(); ++i) {
    out.push_back({ids[i].get<std::vector<int64_t>>(), emb[i].get<std::vector<float>>()});
  }
  return out;
}

namespace {
std::span<const std::byte> bytes_of(const std::vector<int64_t>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(int64_t)};
}
}  // namespace

EncodedRequest encode(const ReferenceSentence& s) {
  EncodedRequest r;
  r.ids = s.input_ids;
  r.mask.assign(r.ids.size(), 1);
  r.types.assign(r.ids.size(), 0);
  const int64_t n = static_cast<int64_t>(r.ids.size());
  r.tensors = {{"input_ids", DType::kI64, {1, n}, bytes_of(r.ids)},
               {"attention_mask", DType::kI64, {1, n}, bytes_of(r.mask)},
               {"token_type_ids", DType::kI64, {1, n}, bytes_of(r.types)}};
  return r;
}

double cosine(std::span<const std::byte> f32_bytes, const std::vector<float>& expected) {
  const auto* a = reinterpret_cast<const float*>(f32_bytes.data());
  const size_t n = f32_bytes.size() / sizeof(float);
  if (n != expected.size()) return -2;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    dot += double(a[i]) * expected[i];
    na += double(a[i]) * a[i];
    nb += double(expected[i]) * expected[i];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace thaw::engine::testing
