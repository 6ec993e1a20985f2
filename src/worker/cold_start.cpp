#include "worker/cold_start.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace thaw::worker {

Nanos BootClock::now() const {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return Nanos{int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec};
}

std::string_view source_name(ExecTimeSource s) {
  switch (s) {
    case ExecTimeSource::kEnv: return "env";
    case ExecTimeSource::kProcStat: return "proc_stat";
    case ExecTimeSource::kUnknown: break;
  }
  return "unknown";
}

ExecTime find_exec_time(const char* env_value) {
  if (env_value != nullptr && *env_value != '\0') {
    int64_t ns = 0;
    const char* end = env_value + std::char_traits<char>::length(env_value);
    auto [p, ec] = std::from_chars(env_value, end, ns);
    if (ec == std::errc() && p == end && ns > 0) return {Nanos{ns}, ExecTimeSource::kEnv};
  }
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  // Field 3 is the first after ')'; starttime is field 22.
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 22) {
      long ticks_per_s = ::sysconf(_SC_CLK_TCK);
      unsigned long long ticks = std::stoull(field);
      if (ticks_per_s <= 0) return {};
      return {Nanos{static_cast<int64_t>(ticks * (1'000'000'000ULL / static_cast<unsigned long long>(ticks_per_s)))},
              ExecTimeSource::kProcStat};
    }
  }
  return {};
}

void ColdStartTimeline::mark(const std::string& name) {
  Nanos t = clock_.now();
  std::lock_guard lock(mu_);
  for (const auto& [n, at] : marks_)
    if (n == name) return;
  marks_.emplace_back(name, t);
}

bool ColdStartTimeline::has(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& [n, at] : marks_)
    if (n == name) return true;
  return false;
}

std::vector<std::pair<std::string, double>> ColdStartTimeline::phase_seconds() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, double>> out;
  bool known = exec_.source != ExecTimeSource::kUnknown;
  for (size_t i = 0; i < marks_.size(); ++i) {
    const auto& [name, at] = marks_[i];
    if (i == 0 && !known) continue;
    Nanos from = i == 0 ? exec_.at : marks_[i - 1].second;
    std::string phase = (i == 0 && name == "main") ? "exec_to_main" : name;
    out.emplace_back(phase, to_seconds(at - from));
  }
  return out;
}

std::optional<double> ColdStartTimeline::seconds_since_exec(const std::string& name) const {
  if (exec_.source == ExecTimeSource::kUnknown) return std::nullopt;
  std::lock_guard lock(mu_);
  for (const auto& [n, at] : marks_)
    if (n == name) return to_seconds(at - exec_.at);
  return std::nullopt;
}

nlohmann::json ColdStartTimeline::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [phase, s] : phase_seconds()) j[phase + "_ms"] = s * 1e3;
  if (auto r = seconds_since_exec("ready")) j["exec_to_ready_ms"] = *r * 1e3;
  if (auto r = seconds_since_exec("first_request")) j["exec_to_first_response_ms"] = *r * 1e3;
  j["exec_time_source"] = source_name(exec_.source);
  return j;
}

}  // namespace thaw::worker
