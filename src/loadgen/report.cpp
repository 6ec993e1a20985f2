#include "loadgen/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace thaw::loadgen {
namespace {

double ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

nlohmann::json latency_json(const LatencySummary& s) {
  return {{"count", s.count},    {"min_ms", ms(s.min)}, {"mean_ms", s.mean / 1e6}, {"p50_ms", ms(s.p50)},
          {"p90_ms", ms(s.p90)}, {"p99_ms", ms(s.p99)}, {"p999_ms", ms(s.p999)},   {"max_ms", ms(s.max)}};
}

std::string latency_line(const LatencySummary& s) {
  if (s.count == 0) return "no samples";
  return fmt::format("p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f} ms", ms(s.p50), ms(s.p90),
                     ms(s.p99), ms(s.p999), ms(s.max));
}

}  // namespace

LoadReport summarize_run(const Schedule& schedule, const std::vector<Outcome>& outcomes, double warmup_s,
                         const RunStats& stats) {
  LoadReport r;
  r.scheduled = outcomes.size();
  r.wall_s = static_cast<double>(stats.wall_ns) / 1e9;
  r.connections_opened = stats.connections_opened;
  r.peak_connections = stats.peak_connections;
  r.resends = stats.resends;
  const auto window_start_ns = static_cast<int64_t>(warmup_s * 1e9);
  std::vector<int64_t> from_schedule, from_send, lag;
  std::map<std::string, std::vector<int64_t>> model_latency;
  int64_t last_answer_ns = window_start_ns;
  int64_t last_ok_ns = window_start_ns;
  uint64_t answered = 0, ok = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    const auto scheduled_ns = static_cast<int64_t>(schedule.offsets_s[i] * 1e9);
    bool got_response = o.failure == Failure::kNone;
    if (schedule.offsets_s[i] < warmup_s) {
      ++r.warmup;
      if (!got_response) ++r.warmup_errors;
      continue;
    }
    ++r.measured;
    const std::string* model = schedule.model_of.empty() ? nullptr : &schedule.models[schedule.model_of[i]];
    ModelReport* per_model = model ? &r.per_model[*model] : nullptr;
    if (per_model) ++per_model->requests;
    if (o.sent_ns >= 0) lag.push_back(std::max<int64_t>(0, o.sent_ns - scheduled_ns));
    if (!got_response) {
      std::string name(failure_name(o.failure));
      ++r.error_counts[name];
      const std::string& example = stats.first_error[static_cast<size_t>(o.failure)];
      if (!example.empty()) r.error_examples.emplace(name, example);
      continue;
    }
    ++r.status_counts[o.status];
    if (auto example = stats.first_error_body.find(o.status); example != stats.first_error_body.end())
      r.status_examples.emplace(o.status, example->second);
    ++answered;
    last_answer_ns = std::max(last_answer_ns, o.done_ns);
    bool is_ok = o.status >= 200 && o.status < 300;
    if (is_ok) {
      ++ok;
      last_ok_ns = std::max(last_ok_ns, o.done_ns);
      if (per_model) ++per_model->ok;
    }
    int64_t latency = o.done_ns - scheduled_ns;
    from_schedule.push_back(latency);
    if (o.sent_ns >= 0) from_send.push_back(o.done_ns - o.sent_ns);
    if (model) model_latency[*model].push_back(latency);
  }
  r.window_s = std::max(0.0, schedule.end_s - warmup_s);
  if (r.window_s > 0) r.offered_rate = static_cast<double>(r.measured) / r.window_s;
  if (last_answer_ns > window_start_ns)
    r.achieved_rate =
        static_cast<double>(answered) / (static_cast<double>(last_answer_ns - window_start_ns) / 1e9);
  if (last_ok_ns > window_start_ns)
    r.ok_rate = static_cast<double>(ok) / (static_cast<double>(last_ok_ns - window_start_ns) / 1e9);
  r.from_schedule = summarize(from_schedule);
  r.from_send = summarize(from_send);
  r.send_lag = summarize(lag);
  for (auto& [name, samples] : model_latency) r.per_model[name].latency = summarize(samples);
  return r;
}

nlohmann::json to_json(const LoadReport& r, const nlohmann::json& description) {
  nlohmann::json status = nlohmann::json::object();
  for (const auto& [code, n] : r.status_counts) status[std::to_string(code)] = n;
  nlohmann::json status_examples = nlohmann::json::object();
  for (const auto& [code, body] : r.status_examples) status_examples[std::to_string(code)] = body;
  nlohmann::json j = {
      {"run", description},
      {"scheduled", r.scheduled},
      {"warmup_requests", r.warmup},
      {"warmup_errors", r.warmup_errors},
      {"measured", r.measured},
      {"window_s", r.window_s},
      {"offered_rate", r.offered_rate},
      {"achieved_rate", r.achieved_rate},
      {"ok_rate", r.ok_rate},
      {"status_counts", status},
      {"error_counts", r.error_counts},
      {"error_examples", r.error_examples},
      {"status_examples", status_examples},
      {"latency_from_schedule", latency_json(r.from_schedule)},
      {"latency_from_send", latency_json(r.from_send)},
      {"send_lag", latency_json(r.send_lag)},
      {"wall_s", r.wall_s},
      {"connections_opened", r.connections_opened},
      {"peak_connections", r.peak_connections},
      {"resends", r.resends},
  };
  if (!r.per_model.empty()) {
    nlohmann::json models = nlohmann::json::object();
    for (const auto& [name, m] : r.per_model)
      models[name] = {
          {"requests", m.requests}, {"ok", m.ok}, {"latency_from_schedule", latency_json(m.latency)}};
    j["per_model"] = models;
  }
  return j;
}

std::string to_text(const LoadReport& r) {
  std::string out;
  out += fmt::format("requests     {} measured (+{} warm-up{}), window {:.2f} s\n", r.measured, r.warmup,
                     r.warmup_errors ? fmt::format(", {} failed", r.warmup_errors) : "", r.window_s);
  out += fmt::format("rate         offered {:.1f}/s, achieved {:.1f}/s, 2xx {:.1f}/s\n", r.offered_rate,
                     r.achieved_rate, r.ok_rate);
  std::string statuses;
  for (const auto& [code, n] : r.status_counts)
    statuses += fmt::format("{}{}: {}", statuses.empty() ? "" : ", ", code, n);
  out += fmt::format("status       {}\n", statuses.empty() ? "none" : statuses);
  for (const auto& [code, body] : r.status_examples) out += fmt::format("             {}: {}\n", code, body);
  std::string errors;
  for (const auto& [name, n] : r.error_counts)
    errors += fmt::format("{}{}: {}", errors.empty() ? "" : ", ", name, n);
  out += fmt::format("errors       {}\n", errors.empty() ? "none" : errors);
  for (const auto& [name, example] : r.error_examples)
    out += fmt::format("             {}: {}\n", name, example);
  out += fmt::format("latency      {}  (from scheduled time)\n", latency_line(r.from_schedule));
  out += fmt::format("             {}  (from actual send)\n", latency_line(r.from_send));
  out += fmt::format("send lag     {}\n", latency_line(r.send_lag));
  for (const auto& [name, m] : r.per_model)
    out += fmt::format("model {:<12} {} requests, {} 2xx, {}\n", name, m.requests, m.ok,
                       latency_line(m.latency));
  out += fmt::format("connections  {} opened, peak {}, {} resent after a stale keep-alive\n",
                     r.connections_opened, r.peak_connections, r.resends);
  return out;
}

}  // namespace thaw::loadgen
