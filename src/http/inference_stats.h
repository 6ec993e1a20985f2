// Per-model inference statistics in the shape of Triton's statistics extension
// (`GET /v2/models/stats`, `/v2/models/{m}[/versions/{v}]/stats`): counts and cumulative
// nanoseconds of successes, failures, queueing and the compute phases. The worker measures the
// compute phases; the gateway measures queueing and the whole request.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace thaw::http {

class InferenceStats {
 public:
  struct Phases {
    uint64_t queue_ns = 0;
    uint64_t compute_input_ns = 0;   // decoding and checking the request
    uint64_t compute_infer_ns = 0;   // running the model (through the gateway: the instance's answer)
    uint64_t compute_output_ns = 0;  // encoding the answer
    uint64_t batch = 1;              // inferences in the request (its batch size)
  };
  // Thread-safe.
  void success(uint64_t total_ns, const Phases& phases);
  void failure(uint64_t total_ns);
  // One entry of "model_stats".
  nlohmann::json to_json(const std::string& name, const std::string& version) const;

 private:
  struct Duration {
    std::atomic<uint64_t> count{0}, ns{0};
    void add(uint64_t v) {
      count.fetch_add(1, std::memory_order_relaxed);
      ns.fetch_add(v, std::memory_order_relaxed);
    }
  };
  Duration success_, fail_, queue_, compute_input_, compute_infer_, compute_output_;
  std::atomic<uint64_t> inference_count_{0}, execution_count_{0}, last_inference_ms_{0};
};

}  // namespace thaw::http
