#include "engine/llm/gguf_metadata.h"

#include <ggml.h>
#include <gguf.h>

#include <memory>

namespace thaw::engine {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* c) const { gguf_free(c); }
};

std::string str(const gguf_context* g, const std::string& key) {
  const int64_t k = gguf_find_key(g, key.c_str());
  return k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_STRING ? gguf_get_val_str(g, k) : "";
}

std::optional<uint64_t> uint(const gguf_context* g, const std::string& key) {
  const int64_t k = gguf_find_key(g, key.c_str());
  if (k < 0) return std::nullopt;
  switch (gguf_get_kv_type(g, k)) {
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(g, k);
    case GGUF_TYPE_INT32:
      return gguf_get_val_i32(g, k) < 0 ? std::nullopt : std::optional<uint64_t>(gguf_get_val_i32(g, k));
    case GGUF_TYPE_UINT64:
      return gguf_get_val_u64(g, k);
    default:
      return std::nullopt;
  }
}

std::optional<float> real(const gguf_context* g, const std::string& key) {
  const int64_t k = gguf_find_key(g, key.c_str());
  if (k < 0 || gguf_get_kv_type(g, k) != GGUF_TYPE_FLOAT32) return std::nullopt;
  return gguf_get_val_f32(g, k);
}

}  // namespace

Result<GgufMetadata> read_gguf_metadata(const std::string& path) {
  ggml_context* tensors = nullptr;
  gguf_init_params params{.no_alloc = true, .ctx = &tensors};
  std::unique_ptr<gguf_context, GgufDeleter> g(gguf_init_from_file(path.c_str(), params));
  if (!g)
    return make_error(Code::kInvalidArgument, "{} is not a GGUF file ggml can read (truncated or corrupt?)",
                      path);
  GgufMetadata m;
  m.architecture = str(g.get(), "general.architecture");
  if (m.architecture.empty()) {
    if (tensors) ggml_free(tensors);
    return make_error(Code::kInvalidArgument, "{} has no general.architecture: not a model GGUF", path);
  }
  m.name = str(g.get(), "general.name");
  m.context_length = uint(g.get(), m.architecture + ".context_length").value_or(0);
  const std::string& a = m.architecture;
  m.block_count = uint(g.get(), a + ".block_count").value_or(0);
  m.embedding_length = uint(g.get(), a + ".embedding_length").value_or(0);
  m.head_count = uint(g.get(), a + ".attention.head_count").value_or(0);
  m.head_count_kv = uint(g.get(), a + ".attention.head_count_kv").value_or(m.head_count);
  m.key_length = uint(g.get(), a + ".attention.key_length")
                     .value_or(m.head_count ? m.embedding_length / m.head_count : 0);
  m.value_length = uint(g.get(), a + ".attention.value_length").value_or(m.key_length);
  m.tokenizer_model = str(g.get(), "tokenizer.ggml.model");
  m.tokenizer_pre = str(g.get(), "tokenizer.ggml.pre");
  if (int64_t k = gguf_find_key(g.get(), "tokenizer.ggml.tokens"); k >= 0)
    m.vocab_size = gguf_get_arr_n(g.get(), k);
  m.chat_template = str(g.get(), "tokenizer.chat_template");
  m.temperature = real(g.get(), "general.sampling.temp");
  m.top_p = real(g.get(), "general.sampling.top_p");
  for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); ++i) {
    m.tensor_bytes += gguf_get_tensor_size(g.get(), i);
    if (tensors)
      m.parameters +=
          static_cast<uint64_t>(ggml_nelements(ggml_get_tensor(tensors, gguf_get_tensor_name(g.get(), i))));
  }
  if (tensors) ggml_free(tensors);
  return m;
}

}  // namespace thaw::engine
