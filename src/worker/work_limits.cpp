#include "worker/work_limits.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace thaw::worker {

Status check_batch(std::span<const WireTensor> inputs, const WorkLimits& limits) {
  for (const WireTensor& t : inputs) {
    if (t.shape.empty()) continue;
    const uint64_t batch = t.type.bytes && t.shape.size() == 1 ? t.strings.size() : static_cast<uint64_t>(t.shape[0]);
    if (batch > limits.max_batch)
      return make_error(Code::kResourceExhausted, "input '{}' has a batch of {}, more than max_batch={}", t.name,
                        batch, limits.max_batch);
  }
  return Status::ok();
}

Status check_tokens(std::span<const engine::InputTensor> inputs, const WorkLimits& limits) {
  for (const engine::InputTensor& t : inputs) {
    if (t.shape.size() != 2 || t.shape[0] < 0 || t.shape[1] < 0) continue;
    const uint64_t batch = static_cast<uint64_t>(t.shape[0]), sequence = static_cast<uint64_t>(t.shape[1]);
    if (limits.max_positions != 0 && sequence > limits.max_positions)
      return make_error(Code::kInvalidArgument,
                        "input '{}' holds sequences of {} tokens; the model has max_positions={}", t.name,
                        sequence, limits.max_positions);
    if (sequence != 0 && batch > limits.max_request_tokens / sequence)
      return make_error(Code::kResourceExhausted,
                        "input '{}' holds {} x {} = {} tokens, more than max_request_tokens={}", t.name, batch,
                        sequence, batch * sequence, limits.max_request_tokens);
    if (sequence != 0 && batch > limits.max_attention_cells / sequence / sequence)
      return make_error(Code::kResourceExhausted,
                        "input '{}' holds {} sequences of {} tokens: {} x {}^2 attention cells is more than "
                        "max_attention_cells={}", t.name, batch, sequence, batch, sequence, limits.max_attention_cells);
  }
  return Status::ok();
}

Status check_response_size(uint64_t bound, const WorkLimits& limits) {
  if (bound <= limits.max_response_bytes) return Status::ok();
  return make_error(Code::kResourceExhausted,
                    "the answer could take {} bytes, more than max_response_bytes={}; ask for fewer outputs "
                    "(\"outputs\"), binary ones, or a smaller batch",
                    bound, limits.max_response_bytes);
}

bool is_large_request(uint64_t body_bytes, uint64_t tokens, uint64_t response_bytes, const WorkLimits& limits) {
  return body_bytes > limits.trim_after_bytes || response_bytes > limits.trim_after_bytes ||
         tokens > limits.max_request_tokens / 4;
}

void give_large_blocks_back_when_freed() {
#if defined(__GLIBC__)
  (void)::mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

void return_free_memory() {
#if defined(__GLIBC__)
  (void)::malloc_trim(0);
#endif
}

}  // namespace thaw::worker
