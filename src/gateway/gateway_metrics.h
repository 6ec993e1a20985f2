// The gateway's Prometheus metrics: requests, queue time and latency per model and tier, retries,
// and the manager's view (rungs, instances, cold starts, memory).
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/prometheus.h"
#include "http/server.h"
#include "manager/manager.h"
#include "manager/tier.h"
#include "policy/rung.h"

namespace thaw::gateway {

class GatewayMetrics {
 public:
  explicit GatewayMetrics(const std::vector<std::string>& models);

  // One inference request's outcome. `queue_s` and `upstream_s` are negative when not reached.
  void request(const std::string& model, manager::Tier tier, int status, double total_s, double queue_s,
               double upstream_s);
  void retry(const std::string& model);
  void cold_request(const std::string& model, policy::Rung from);
  void student_answer(const std::string& model);

  std::string render(const manager::Manager& manager, const http::Server* server) const;

 private:
  static constexpr std::array<int, 10> kStatuses = {200, 400, 404, 413, 429, 500, 502, 503, 504, 0};
  struct PerTier {
    http::Histogram total, queue;
    std::array<std::atomic<uint64_t>, kStatuses.size()> by_status{};
  };
  struct PerModel {
    std::array<PerTier, manager::kTierCount> tiers;
    http::Histogram upstream;
    std::atomic<uint64_t> retries{0};
    std::atomic<uint64_t> student_answers{0};
    std::array<std::atomic<uint64_t>, policy::kRungCount> cold_requests{};
  };
  PerModel* find(const std::string& model) const;
  std::map<std::string, std::unique_ptr<PerModel>, std::less<>> models_;
};

}  // namespace thaw::gateway
