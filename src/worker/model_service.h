// One loaded model behind the Open Inference Protocol: decodes /infer requests, tokenizes text,
// checks inputs against the model's signature, runs the backend and encodes the answer.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "engine/backend.h"
#include "engine/generator.h"
#include "http/inference_stats.h"
#include "http/message.h"
#include "http/prometheus.h"
#include "worker/cold_start.h"
#include "worker/kserve_codec.h"
#include "worker/text_input.h"
#include "worker/work_limits.h"

namespace thaw::worker {

// Everything the service needs from a bundle, already loaded.
struct LoadedModel {
  std::string name;
  std::string version = "1";
  std::string platform;  // KServe "platform": the backend plugin's protocol identity
  // Whatever the backend borrows (mapped weights, runtime environment); outlives the backend.
  std::shared_ptr<void> keep_alive;
  std::unique_ptr<engine::Backend> backend;
  std::unique_ptr<TextEncoder> text_encoder;  // null: the model takes no text
  size_t max_text_tokens = 512;
  size_t max_positions = 0;  // longest token sequence the model holds; 0: unknown
  std::vector<std::vector<OwnedTensor>> warmup;  // warm-up requests carried by the bundle
};

struct ServiceOptions {
  DecodeLimits limits;
  WorkLimits work;  // max_positions 0: the model's (LoadedModel::max_positions)
  std::string text_input = "text";  // the BYTES input name that carries raw text
  uint64_t max_decoded_body = 64 << 20;  // a compressed request body may decode to this much
};

class ModelService {
 public:
  ModelService(LoadedModel model, ServiceOptions options, const Clock& clock,
               ColdStartTimeline* timeline);

  const std::string& name() const { return model_.name; }
  const std::string& version() const { return model_.version; }
  // Ready: warmed up and not stopping (what the probes and /warm report). Inference needs only
  // the warm-up, so requests in flight when a stop begins still run.
  bool ready() const { return ready_.load() && !stopping_.load(); }
  void set_ready(bool ready) { ready_ = ready; }
  void begin_stop() { stopping_ = true; }
  bool accepts_text() const;

  // Runs the bundle's warm-up requests `passes` times; with none in the bundle, one synthesised
  // from the signature (a short text for text models). Fails if any warm-up inference fails.
  Status warm_up(int passes);

  // KServe model metadata: name, versions, platform, inputs, outputs.
  nlohmann::json metadata() const;
  // Whether `model`/`version` (version may be empty) names this model.
  bool serves(const std::string& model, const std::string& version) const;

  // The model's token generator; null for tensor models (backend.h).
  engine::Generator* generator() const { return model_.backend->generator(); }
  // Counts a request answered elsewhere (the OpenAI routes) in the metrics, and marks the first
  // successful one as infer() does.
  void record_outcome(int http_status, Nanos took);

  // Handles POST .../infer. Never throws; errors are 4xx/5xx JSON responses.
  http::Response infer(const http::Request& request);

  // Called once, after the first successful inference response is built.
  void on_first_response(std::function<void()> callback) { first_response_ = std::move(callback); }

  void write_metrics(http::PrometheusText& out) const;

 private:
  // What a request asked for, whether it ran or not: decides whether its memory goes back.
  struct Size {
    uint64_t body_bytes = 0;  // decoded
    uint64_t tokens = 0;
  };
  Result<http::Response> infer_or_error(const http::Request& request, http::InferenceStats::Phases& phases,
                                        Size& size);
  Status validate(std::span<const engine::InputTensor> inputs) const;

  LoadedModel model_;
  ServiceOptions options_;
  const Clock& clock_;
  ColdStartTimeline* timeline_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> first_done_{false};
  std::function<void()> first_response_;

  std::atomic<uint64_t> ok_{0}, client_errors_{0}, server_errors_{0}, warmup_runs_{0};
  http::Histogram latency_;
  http::InferenceStats stats_;

 public:
  // Triton's statistics extension: this model's entry of "model_stats".
  nlohmann::json statistics() const { return stats_.to_json(model_.name, model_.version); }
};

}  // namespace thaw::worker
