#include "http/prometheus.h"

#include <cmath>

#include <fmt/format.h>

namespace thaw::http {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

std::vector<double> Histogram::default_latency_bounds() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(std::max(0.0, seconds) * 1e6)),
                        std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (const auto& c : counts_) {
    running += c.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {
std::string format_labels(const Labels& labels, std::string_view extra_key = {}, std::string_view extra_value = {}) {
  if (labels.empty() && extra_key.empty()) return "";
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    s += fmt::format("{}{}=\"{}\"", first ? "" : ",", k, escape_label_value(v));
    first = false;
  }
  if (!extra_key.empty()) s += fmt::format("{}{}=\"{}\"", first ? "" : ",", extra_key, extra_value);
  return s + "}";
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}
}  // namespace

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::sample(std::string_view name, const Labels& labels, double value) {
  out_ += fmt::format("{}{} {}\n", name, format_labels(labels), format_value(value));
}

void PrometheusText::histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& h) {
  for (size_t i = 0; i < h.cumulative.size(); ++i) {
    std::string le = i < h.bounds.size() ? format_value(h.bounds[i]) : "+Inf";
    out_ += fmt::format("{}_bucket{} {}\n", name, format_labels(labels, "le", le), h.cumulative[i]);
  }
  out_ += fmt::format("{}_sum{} {}\n", name, format_labels(labels), format_value(h.sum));
  out_ += fmt::format("{}_count{} {}\n", name, format_labels(labels), h.count);
}

}  // namespace thaw::http
