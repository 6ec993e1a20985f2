// Bounds on the work one /infer request may ask for, checked before the work is done, so that a
// small request cannot take gigabytes or minutes: the batch, the tokens a token model runs, the
// positions a sequence may use and the size of the answer. Errors name the bound (a `thaw run`
// flag), HTTP 413 for sizes and counts, 400 for a sequence the model cannot hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"
#include "engine/backend.h"
#include "worker/kserve_codec.h"

namespace thaw::worker {

struct WorkLimits {
  size_t max_batch = 64;                   // first dimension of every input (texts of a text input)
  uint64_t max_request_tokens = 8192;      // batch x padded sequence length of a token model
  // batch x sequence^2: what a transformer's attention holds per head and layer, which grows with
  // the square of the sequence (8 x 512^2: eight sequences of 512 tokens).
  uint64_t max_attention_cells = uint64_t{8} * 512 * 512;
  uint64_t max_response_bytes = 32 << 20;  // the encoded answer, at most (see encoded_size_bound)
  size_t max_positions = 0;                // longest token sequence; 0: none known
  // A request whose body or answer passes this many bytes, or whose token count passes a
  // quarter of max_request_tokens, gives its memory back to the system afterwards.
  uint64_t trim_after_bytes = 1 << 20;
};

// Every input's first dimension (a text input's element count) against max_batch: kResourceExhausted.
Status check_batch(std::span<const WireTensor> inputs, const WorkLimits& limits);

// For a model that takes token ids ([batch, sequence] tensors): a sequence longer than
// max_positions is kInvalidArgument; batch x sequence over max_request_tokens, or batch x
// sequence^2 over max_attention_cells, kResourceExhausted.
Status check_tokens(std::span<const engine::InputTensor> inputs, const WorkLimits& limits);

// An answer encoded_size_bound() says may pass max_response_bytes: kResourceExhausted.
Status check_response_size(uint64_t bound, const WorkLimits& limits);

// Whether a request of this size should give its memory back (see trim_after_bytes).
bool is_large_request(uint64_t body_bytes, uint64_t tokens, uint64_t response_bytes, const WorkLimits& limits);

// Makes blocks of 1 MiB and more (request bodies, tensors, answers) come from and go back to the
// system one by one (glibc's M_MMAP_THRESHOLD, fixed instead of growing), so a large request's
// buffers leave the RSS when freed, even after return_free_memory() ran. Call once at start.
void give_large_blocks_back_when_freed();

// Returns the heap's free memory to the system (glibc's malloc_trim); a no-op elsewhere.
void return_free_memory();

}  // namespace thaw::worker
