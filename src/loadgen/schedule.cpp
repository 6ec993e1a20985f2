#include "loadgen/schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>

namespace thaw::loadgen {
namespace {

Status check_rate_and_duration(double rate, double duration_s) {
  if (!std::isfinite(rate) || rate <= 0)
    return make_error(Code::kInvalidArgument, "rate must be a positive number of requests per second, got {}",
                      rate);
  if (!std::isfinite(duration_s) || duration_s <= 0)
    return make_error(Code::kInvalidArgument, "duration must be a positive number of seconds, got {}",
                      duration_s);
  if (rate * duration_s > static_cast<double>(kMaxArrivals))
    return make_error(Code::kInvalidArgument, "{} req/s for {} s is {:.0f} requests; the limit is {}", rate,
                      duration_s, rate * duration_s, kMaxArrivals);
  return Status::ok();
}

bool valid_model_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<Schedule> constant_rate(double rate, double duration_s) {
  THAW_TRY(check_rate_and_duration(rate, duration_s));
  // Arrival i is at i / rate < duration, so there are ceil(rate * duration) of them; the slack
  // keeps 1000 req/s over 10 s at exactly 10,000 despite rounding.
  size_t count = static_cast<size_t>(std::ceil(rate * duration_s - 1e-9));
  Schedule s;
  s.offsets_s.reserve(count);
  for (size_t i = 0; i < count; ++i) s.offsets_s.push_back(static_cast<double>(i) / rate);
  s.end_s = duration_s;
  return s;
}

Result<Schedule> poisson(double rate, double duration_s, uint64_t seed) {
  THAW_TRY(check_rate_and_duration(rate, duration_s));
  std::mt19937_64 engine(seed);
  Schedule s;
  s.offsets_s.reserve(static_cast<size_t>(rate * duration_s * 1.1) + 16);
  double t = 0;
  for (;;) {
    // u in [0, 1) from the top 53 bits, so 1 - u is never 0; the transform is spelled out
    // rather than left to std::exponential_distribution, whose algorithm is unspecified.
    double u = static_cast<double>(engine() >> 11) * 0x1.0p-53;
    t += -std::log1p(-u) / rate;
    if (t >= duration_s) break;
    if (s.offsets_s.size() >= kMaxArrivals)
      return make_error(Code::kInvalidArgument, "Poisson schedule exceeds {} requests", kMaxArrivals);
    s.offsets_s.push_back(t);
  }
  s.end_s = duration_s;
  return s;
}

Result<Schedule> parse_schedule(std::string_view text) {
  Schedule s;
  std::vector<std::string_view> names;  // per arrival, resolved to indices after sorting
  std::unordered_map<std::string, uint32_t> index_of;
  int with_model = -1;  // unknown until the first arrival line
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;

    size_t sep = line.find_first_of(" \t,");
    std::string_view offset_text = line.substr(0, sep);
    std::string_view rest = sep == std::string_view::npos ? std::string_view{} : trim(line.substr(sep + 1));
    if (sep != std::string_view::npos && line[sep] == ',' && rest.empty())
      return make_error(Code::kInvalidArgument, "schedule line {}: nothing after the comma", line_no);

    double offset = 0;
    auto [end, ec] = std::from_chars(offset_text.data(), offset_text.data() + offset_text.size(), offset);
    if (ec != std::errc() || end != offset_text.data() + offset_text.size())
      return make_error(Code::kInvalidArgument, "schedule line {}: '{}' is not a number of seconds", line_no,
                        offset_text);
    if (!std::isfinite(offset) || offset < 0)
      return make_error(Code::kInvalidArgument, "schedule line {}: offset {} must be finite and >= 0",
                        line_no, offset);
    bool has_model = !rest.empty();
    if (has_model && rest.find_first_of(" \t,") != std::string_view::npos)
      return make_error(Code::kInvalidArgument, "schedule line {}: expected 'OFFSET [MODEL]', got '{}'",
                        line_no, line);
    if (has_model && !valid_model_name(rest))
      return make_error(Code::kInvalidArgument,
                        "schedule line {}: model name '{}' may only use letters, digits, '.', '_' and '-'",
                        line_no, rest);
    if (with_model < 0) with_model = has_model ? 1 : 0;
    if (has_model != (with_model == 1))
      return make_error(Code::kInvalidArgument,
                        "schedule line {}: either every line names a model or none does", line_no);
    if (s.offsets_s.size() >= kMaxArrivals)
      return make_error(Code::kInvalidArgument, "schedule has more than {} arrivals", kMaxArrivals);
    s.offsets_s.push_back(offset);
    if (has_model) names.push_back(rest);
  }
  if (s.offsets_s.empty()) return make_error(Code::kInvalidArgument, "schedule has no arrivals");

  std::vector<size_t> order(s.offsets_s.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return s.offsets_s[a] < s.offsets_s[b]; });
  std::vector<double> sorted(order.size());
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = s.offsets_s[order[i]];
  s.offsets_s = std::move(sorted);
  if (!names.empty()) {
    s.model_of.reserve(order.size());
    for (size_t i : order) {
      std::string name(names[i]);
      auto [it, inserted] = index_of.try_emplace(name, static_cast<uint32_t>(s.models.size()));
      if (inserted) s.models.push_back(name);
      s.model_of.push_back(it->second);
    }
  }
  s.end_s = s.offsets_s.back();
  return s;
}

Result<Schedule> load_schedule_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Code::kNotFound, "cannot open schedule file '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(Code::kIo, "reading schedule file '{}' failed", path);
  auto s = parse_schedule(text.str());
  if (!s) return Status(s.status()).with_context(path);
  return s;
}

void truncate_schedule(Schedule& s, double end_s) {
  size_t keep = static_cast<size_t>(std::lower_bound(s.offsets_s.begin(), s.offsets_s.end(), end_s) -
                                    s.offsets_s.begin());
  s.offsets_s.resize(keep);
  if (!s.model_of.empty()) s.model_of.resize(keep);
  s.end_s = std::min(s.end_s, end_s);
}

}  // namespace thaw::loadgen
