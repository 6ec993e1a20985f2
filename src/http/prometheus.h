// Prometheus text exposition format (version 0.0.4), written by hand: a builder for one scrape
// and a thread-safe histogram for latencies. Shared by every /metrics endpoint.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace thaw::http {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

// Buckets in seconds, cumulative on output. Observe from any thread.
class Histogram {
 public:
  // Upper bounds in seconds, ascending; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds = default_latency_bounds());
  void observe(double seconds);
  static std::vector<double> default_latency_bounds();

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> sum_micros_{0};
};

class PrometheusText {
 public:
  // Each metric family starts with HELP and TYPE ("counter", "gauge", "histogram").
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& h);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);

}  // namespace thaw::http
