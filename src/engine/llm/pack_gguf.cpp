#include "engine/llm/pack_gguf.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "bundle/mapped_file.h"
#include "engine/llm/gguf_metadata.h"
#include "engine/llm/llm_plugin.h"

namespace thaw::engine {

Result<std::unique_ptr<bundle::PackedModel>> pack_gguf(const std::string& path,
                                                       const GgufPackOptions& options) {
  THAW_ASSIGN_OR_RETURN(GgufMetadata meta, read_gguf_metadata(path));
  THAW_ASSIGN_OR_RETURN(bundle::MappedFile map, bundle::MappedFile::open(path));
  auto model = std::make_unique<bundle::PackedModel>();
  bundle::BundleContents& c = model->contents;
  c.backend = std::string(kLlmBackendName);
  c.name = std::filesystem::path(path).stem().string();
  // Written from the mapping: a copy would hold the whole GGUF (gigabytes) in memory a second time.
  model->mappings.push_back(std::move(map));
  c.files.push_back({std::string(kGgufFile), {}, model->mappings.back().bytes()});

  nlohmann::json prompts = nlohmann::json::array();
  for (const std::string& p : options.warmup_prompts) prompts.push_back(p);
  if (prompts.empty()) prompts.push_back("Hello");  // one step through the graphs: as cheap as warm-up gets
  c.metadata["llm"] = {
      {"gguf_file", kGgufFile},
      {"architecture", meta.architecture},
      {"model_name", meta.name},
      {"context_length", meta.context_length},
      {"parameters", meta.parameters},
      {"tensor_bytes", meta.tensor_bytes},
      {"tokenizer",
       {{"source", "gguf"},
        {"model", meta.tokenizer_model},
        {"pre", meta.tokenizer_pre},
        {"vocab_size", meta.vocab_size}}},
      {"chat_template", meta.chat_template},
      {"shape",
       {{"layers", meta.block_count},
        {"embedding", meta.embedding_length},
        {"heads", meta.head_count},
        {"kv_heads", meta.head_count_kv},
        {"key_length", meta.key_length},
        {"value_length", meta.value_length}}},
      {"generation",
       {{"temperature", options.temperature.value_or(meta.temperature.value_or(0.7f))},
        {"top_p", options.top_p.value_or(meta.top_p.value_or(0.95f))},
        {"max_tokens", options.max_tokens}}},
      {"warmup", {{"prompts", prompts}, {"max_tokens", options.warmup_tokens}}},
  };
  c.metadata["max_positions"] = meta.context_length;
  return model;
}

}  // namespace thaw::engine
