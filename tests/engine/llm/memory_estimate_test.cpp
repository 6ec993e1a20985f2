// The llm load plan's memory estimate from a manifest's metadata.llm.
#include "engine/llm/memory_estimate.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace thaw::engine {
namespace {

nlohmann::json qwen_like() {
  return {{"context_length", 32768},
          {"tokenizer", {{"vocab_size", 1000}}},
          {"shape",
           {{"layers", 24}, {"embedding", 896}, {"heads", 14}, {"kv_heads", 2}, {"key_length", 64},
            {"value_length", 64}}}};
}

TEST(LlmMemoryEstimate, CountsTheKvCacheOfEverySlotsContext) {
  const uint64_t gguf = 500ull << 20;
  // 24 layers x 2 KV heads x (64 + 64) x 2 bytes = 12 KiB a token; the context is capped at 4096.
  const uint64_t one = llm_start_bytes(qwen_like(), gguf, 1, 0);
  const uint64_t four = llm_start_bytes(qwen_like(), gguf, 4, 0);
  EXPECT_EQ(four - one, 3ull * 4096 * 12288);
  EXPECT_EQ(llm_start_bytes(qwen_like(), gguf, 1, 512) + 3584ull * 12288, one);
  EXPECT_GT(one, gguf + 4096ull * 12288);
  EXPECT_LT(one, gguf + 4096ull * 12288 + (64ull << 20));
}

TEST(LlmMemoryEstimate, WithoutAShapeAFlatAllowance) {
  EXPECT_EQ(llm_start_bytes(nlohmann::json::object(), 100, 4, 0), 100 + (96ull << 20));
  nlohmann::json odd = qwen_like();
  odd["shape"]["layers"] = "many";
  EXPECT_EQ(llm_start_bytes(odd, 100, 4, 0), 100 + (96ull << 20));
  EXPECT_EQ(llm_start_bytes(nlohmann::json(), 100, 4, 0), 100 + (96ull << 20));
}

}  // namespace
}  // namespace thaw::engine
