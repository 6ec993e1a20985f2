#include "http/inference_stats.h"

#include <chrono>

#include <nlohmann/json.hpp>

namespace thaw::http {
namespace {
uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}
}  // namespace

void InferenceStats::success(uint64_t total_ns, const Phases& p) {
  success_.add(total_ns);
  queue_.add(p.queue_ns);
  compute_input_.add(p.compute_input_ns);
  compute_infer_.add(p.compute_infer_ns);
  compute_output_.add(p.compute_output_ns);
  inference_count_.fetch_add(p.batch, std::memory_order_relaxed);
  execution_count_.fetch_add(1, std::memory_order_relaxed);
  last_inference_ms_.store(now_ms(), std::memory_order_relaxed);
}

void InferenceStats::failure(uint64_t total_ns) {
  fail_.add(total_ns);
  last_inference_ms_.store(now_ms(), std::memory_order_relaxed);
}

nlohmann::json InferenceStats::to_json(const std::string& name, const std::string& version) const {
  auto d = [](const Duration& x) { return nlohmann::json{{"count", x.count.load()}, {"ns", x.ns.load()}}; };
  return {{"name", name},
          {"version", version},
          {"last_inference", last_inference_ms_.load()},
          {"inference_count", inference_count_.load()},
          {"execution_count", execution_count_.load()},
          {"inference_stats",
           {{"success", d(success_)},
            {"fail", d(fail_)},
            {"queue", d(queue_)},
            {"compute_input", d(compute_input_)},
            {"compute_infer", d(compute_infer_)},
            {"compute_output", d(compute_output_)},
            {"cache_hit", {{"count", 0}, {"ns", 0}}},
            {"cache_miss", {{"count", 0}, {"ns", 0}}}}},
          {"batch_stats", nlohmann::json::array()}};
}

}  // namespace thaw::http
