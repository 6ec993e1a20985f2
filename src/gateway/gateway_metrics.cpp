#include "gateway/gateway_metrics.h"

namespace thaw::gateway {

using manager::Tier;

GatewayMetrics::GatewayMetrics(const std::vector<std::string>& models) {
  for (const auto& m : models) models_[m] = std::make_unique<PerModel>();
}

GatewayMetrics::PerModel* GatewayMetrics::find(const std::string& model) const {
  auto it = models_.find(model);
  return it == models_.end() ? nullptr : it->second.get();
}

void GatewayMetrics::request(const std::string& model, Tier tier, int status, double total_s, double queue_s,
                             double upstream_s) {
  PerModel* m = find(model);
  if (m == nullptr) return;
  PerTier& t = m->tiers[manager::index(tier)];
  t.total.observe(total_s);
  if (queue_s >= 0) t.queue.observe(queue_s);
  if (upstream_s >= 0) m->upstream.observe(upstream_s);
  size_t slot = kStatuses.size() - 1;
  for (size_t i = 0; i + 1 < kStatuses.size(); ++i)
    if (kStatuses[i] == status) slot = i;
  t.by_status[slot].fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::retry(const std::string& model) {
  if (PerModel* m = find(model)) m->retries.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::student_answer(const std::string& model) {
  if (PerModel* m = find(model)) m->student_answers.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::cold_request(const std::string& model, policy::Rung from) {
  if (PerModel* m = find(model)) m->cold_requests[policy::index(from)].fetch_add(1, std::memory_order_relaxed);
}

std::string GatewayMetrics::render(const manager::Manager& manager, const http::Server* server) const {
  http::PrometheusText p;
  p.family("thaw_gateway_requests_total", "counter", "Inference requests by model, tier and HTTP status");
  for (const auto& [name, m] : models_)
    for (Tier tier : manager::kAllTiers)
      for (size_t i = 0; i < kStatuses.size(); ++i) {
        uint64_t n = m->tiers[manager::index(tier)].by_status[i].load();
        if (n == 0) continue;
        p.sample("thaw_gateway_requests_total",
                 {{"model", name}, {"tier", std::string(manager::tier_name(tier))},
                  {"code", kStatuses[i] ? std::to_string(kStatuses[i]) : "other"}},
                 static_cast<double>(n));
      }
  p.family("thaw_gateway_request_duration_seconds", "histogram",
           "Time from request to response at the gateway (queue, cold start and inference)");
  for (const auto& [name, m] : models_)
    for (Tier tier : manager::kAllTiers)
      p.histogram("thaw_gateway_request_duration_seconds",
                  {{"model", name}, {"tier", std::string(manager::tier_name(tier))}},
                  m->tiers[manager::index(tier)].total.snapshot());
  p.family("thaw_gateway_queue_duration_seconds", "histogram", "Time a request waited for an instance slot");
  for (const auto& [name, m] : models_)
    for (Tier tier : manager::kAllTiers)
      p.histogram("thaw_gateway_queue_duration_seconds",
                  {{"model", name}, {"tier", std::string(manager::tier_name(tier))}},
                  m->tiers[manager::index(tier)].queue.snapshot());
  p.family("thaw_gateway_inference_duration_seconds", "histogram", "Time the instance took to answer");
  for (const auto& [name, m] : models_)
    p.histogram("thaw_gateway_inference_duration_seconds", {{"model", name}}, m->upstream.snapshot());
  p.family("thaw_gateway_retries_total", "counter", "Inferences retried after an instance failed mid-request");
  for (const auto& [name, m] : models_) p.sample("thaw_gateway_retries_total", {{"model", name}}, double(m->retries));
  p.family("thaw_gateway_student_answers_total", "counter",
           "Requests answered by the model's student while the model itself started");
  for (const auto& [name, m] : models_)
    p.sample("thaw_gateway_student_answers_total", {{"model", name}}, double(m->student_answers));
  p.family("thaw_gateway_cold_requests_total", "counter",
           "Requests that found no warm instance, by the rung the model was on");
  for (const auto& [name, m] : models_)
    for (policy::Rung r : policy::kAllRungs)
      p.sample("thaw_gateway_cold_requests_total", {{"model", name}, {"rung", std::string(policy::rung_name(r))}},
               double(m->cold_requests[policy::index(r)]));

  auto stats = manager.stats();
  p.family("thaw_cold_starts_total", "counter", "Instance starts by the rung they started from");
  for (const auto& s : stats)
    for (policy::Rung r : policy::kAllRungs)
      p.sample("thaw_cold_starts_total", {{"model", s.name}, {"rung", std::string(policy::rung_name(r))}},
               double(s.cold_starts[policy::index(r)]));
  p.family("thaw_cold_start_seconds_total", "counter", "Summed instance start time by rung");
  for (const auto& s : stats)
    for (policy::Rung r : policy::kAllRungs)
      p.sample("thaw_cold_start_seconds_total", {{"model", s.name}, {"rung", std::string(policy::rung_name(r))}},
               s.cold_start_seconds[policy::index(r)]);
  p.family("thaw_model_rung", "gauge", "1 for the rung each model is on now");
  for (const auto& s : stats)
    for (policy::Rung r : policy::kAllRungs)
      p.sample("thaw_model_rung", {{"model", s.name}, {"rung", std::string(policy::rung_name(r))}},
               s.rung == r ? 1.0 : 0.0);
  p.family("thaw_instances", "gauge", "Running instances by pool, and instances starting");
  for (const auto& s : stats) {
    p.sample("thaw_instances", {{"model", s.name}, {"pool", "shared"}}, s.instances);
    p.sample("thaw_instances", {{"model", s.name}, {"pool", "reserved"}}, s.reserved);
    p.sample("thaw_instances", {{"model", s.name}, {"pool", "starting"}}, s.starting);
  }
  p.family("thaw_queue_length", "gauge", "Requests waiting for an instance, by tier");
  for (const auto& s : stats)
    for (Tier tier : manager::kAllTiers)
      p.sample("thaw_queue_length", {{"model", s.name}, {"tier", std::string(manager::tier_name(tier))}},
               double(s.waiting[manager::index(tier)]));
  p.family("thaw_in_flight", "gauge", "Requests being served by instances");
  for (const auto& s : stats) p.sample("thaw_in_flight", {{"model", s.name}}, s.in_flight);
  p.family("thaw_model_memory_bytes", "gauge", "PSS of a model's instances and zygote");
  for (const auto& s : stats) p.sample("thaw_model_memory_bytes", {{"model", s.name}}, double(s.memory_bytes));
  p.family("thaw_memory_bytes", "gauge", "PSS of every instance and zygote");
  p.sample("thaw_memory_bytes", {}, double(manager.memory_bytes()));
  p.family("thaw_memory_budget_bytes", "gauge", "The memory budget (0: none)");
  p.sample("thaw_memory_budget_bytes", {}, double(manager.options().memory_budget_bytes));
  p.family("thaw_instance_failures_total", "counter", "Instance start failures and unexpected exits");
  for (const auto& s : stats) {
    p.sample("thaw_instance_failures_total", {{"model", s.name}, {"kind", "start"}}, double(s.start_failures));
    p.sample("thaw_instance_failures_total", {{"model", s.name}, {"kind", "exit"}}, double(s.instance_deaths));
  }
  if (server != nullptr) {
    auto st = server->stats();
    p.family("thaw_http_connections_active", "gauge", "Open client connections");
    p.sample("thaw_http_connections_active", {}, double(st.connections_active));
    p.family("thaw_http_requests_total", "counter", "HTTP requests handled");
    p.sample("thaw_http_requests_total", {}, double(st.requests));
    p.family("thaw_http_bad_requests_total", "counter", "Unparseable or over-limit requests");
    p.sample("thaw_http_bad_requests_total", {}, double(st.bad_requests));
    p.family("thaw_http_timeouts_total", "counter", "Connections cut off for slowness");
    p.sample("thaw_http_timeouts_total", {}, double(st.timeouts));
  }
  return p.text();
}

}  // namespace thaw::gateway
