#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <unordered_map>

#include "sim/csv.h"
#include "sim/trace.h"

namespace thaw::sim {
namespace {

namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash_id(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

int column(const std::vector<std::string_view>& header, std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

std::vector<fs::path> files_matching(const fs::path& dir, std::string_view needle) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && name.size() > 4 && name.ends_with(".csv") && name.find(needle) != std::string::npos)
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Reads name -> value of one numeric column, first occurrence wins.
Status read_lookup(const fs::path& file, std::string_view key_col, std::string_view value_col,
                   std::unordered_map<std::string, double>& out) {
  std::ifstream in(file);
  if (!in) return make_error(Code::kIo, "cannot open {}", file.string());
  std::string line;
  std::vector<std::string_view> f;
  if (!std::getline(in, line)) return make_error(Code::kCorrupt, "{}: empty file", file.string());
  split_csv(line, f);
  int k = column(f, key_col), v = column(f, value_col);
  if (k < 0 || v < 0)
    return make_error(Code::kCorrupt, "{}: header lacks {} or {}", file.string(), key_col, value_col);
  size_t row = 1;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty()) continue;
    split_csv(line, f);
    double val = 0;
    if (static_cast<int>(f.size()) <= std::max(k, v) || !parse_number(f[v], val) || !std::isfinite(val) || val < 0)
      return make_error(Code::kCorrupt, "{}:{}: bad {} value", file.string(), row, value_col);
    out.emplace(std::string(f[k]), val);
  }
  return Status::ok();
}

void finish(Trace& t, const TraceOptions& opts) {
  if (opts.max_apps > 0 && t.apps.size() > opts.max_apps) t.apps.resize(opts.max_apps);
  t.invocations = 0;
  for (auto& a : t.apps) t.invocations += a.arrival_us.size();
}

void sort_by_arrival(TraceApp& a) {
  std::vector<size_t> order(a.arrival_us.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return a.arrival_us[x] < a.arrival_us[y]; });
  std::vector<int64_t> arr(order.size());
  std::vector<float> dur(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    arr[i] = a.arrival_us[order[i]];
    dur[i] = a.duration_ms[order[i]];
  }
  a.arrival_us = std::move(arr);
  a.duration_ms = std::move(dur);
}

}  // namespace

void spread_minute(uint32_t count, uint64_t& rng_state, std::vector<int64_t>& out_us, int64_t minute_start_us) {
  const double slot = 60e6 / count;
  for (uint32_t k = 0; k < count; ++k) {
    double u = static_cast<double>(splitmix64(rng_state) >> 11) * 0x1.0p-53;
    out_us.push_back(minute_start_us + static_cast<int64_t>((k + u) * slot));
  }
}

Result<Trace> read_azure2019(const std::string& dir_path, const TraceOptions& opts) {
  fs::path dir(dir_path);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error(Code::kNotFound, "trace directory {} does not exist", dir_path);
  auto inv_files = files_matching(dir, "invocations");
  if (inv_files.empty()) return make_error(Code::kNotFound, "{}: no invocations*.csv", dir_path);
  std::unordered_map<std::string, double> durations, memory;
  for (const auto& f : files_matching(dir, "durations")) THAW_TRY(read_lookup(f, "HashFunction", "Average", durations));
  for (const auto& f : files_matching(dir, "memory")) THAW_TRY(read_lookup(f, "HashApp", "AverageAllocatedMb", memory));

  Trace t;
  t.format = "azure2019";
  std::unordered_map<std::string, size_t> app_index;
  std::vector<int> functions_per_app;
  std::vector<uint64_t> rng;
  int64_t total_minutes = 0;
  std::string line;
  std::vector<std::string_view> f;
  for (size_t day = 0; day < inv_files.size(); ++day) {
    std::ifstream in(inv_files[day]);
    if (!in) return make_error(Code::kIo, "cannot open {}", inv_files[day].string());
    if (!std::getline(in, line)) return make_error(Code::kCorrupt, "{}: empty file", inv_files[day].string());
    split_csv(line, f);
    int fn_col = column(f, "HashFunction"), app_col = column(f, "HashApp");
    if (fn_col < 0 || app_col < 0)
      return make_error(Code::kCorrupt, "{}: header lacks HashFunction or HashApp", inv_files[day].string());
    // Minute columns are named "minute_N" (vHive sample) or "N" (the public trace), N from 1.
    std::vector<std::pair<int, int64_t>> minute_cols;
    for (size_t i = 0; i < f.size(); ++i) {
      std::string_view name = f[i];
      if (name.starts_with("minute_")) name.remove_prefix(7);
      int64_t n = 0;
      if (parse_number(name, n) && n >= 1 && n <= 100000) minute_cols.emplace_back(static_cast<int>(i), n - 1);
    }
    if (minute_cols.empty()) return make_error(Code::kCorrupt, "{}: no minute columns", inv_files[day].string());
    int64_t day_minutes = 0;
    for (auto& [c, m] : minute_cols) day_minutes = std::max(day_minutes, m + 1);
    const int64_t offset_min = total_minutes;
    size_t row = 1;
    while (std::getline(in, line)) {
      ++row;
      if (line.empty()) continue;
      split_csv(line, f);
      if (f.size() < minute_cols.back().first + 1u)
        return make_error(Code::kCorrupt, "{}:{}: {} fields, header has more", inv_files[day].string(), row, f.size());
      std::string app_id(f[app_col]);
      auto [it, inserted] = app_index.emplace(app_id, t.apps.size());
      if (inserted) {
        TraceApp a;
        a.id = app_id;
        auto m = memory.find(app_id);
        a.memory_mb = m != memory.end() && m->second > 0 ? m->second : opts.default_memory_mb;
        t.apps.push_back(std::move(a));
        functions_per_app.push_back(0);
        rng.push_back(opts.seed ^ hash_id(app_id));
      }
      size_t ai = it->second;
      if (day == 0) ++functions_per_app[ai];
      auto d = durations.find(std::string(f[fn_col]));
      float dur = d != durations.end() ? static_cast<float>(d->second) : 0.0f;
      TraceApp& a = t.apps[ai];
      for (auto& [c, m] : minute_cols) {
        uint32_t count = 0;
        if (!parse_number(f[c], count))
          return make_error(Code::kCorrupt, "{}:{}: bad count '{}'", inv_files[day].string(), row, f[c]);
        if (count == 0) continue;
        spread_minute(count, rng[ai], a.arrival_us, (offset_min + m) * 60'000'000LL);
        a.duration_ms.resize(a.arrival_us.size(), dur);
      }
    }
    total_minutes += day_minutes;
  }
  for (size_t i = 0; i < t.apps.size(); ++i)
    if (functions_per_app[i] > 1 || inv_files.size() > 1) sort_by_arrival(t.apps[i]);
  t.horizon = std::chrono::minutes(total_minutes);
  finish(t, opts);
  return t;
}

Result<Trace> read_azure2021(const std::string& file, const TraceOptions& opts) {
  std::ifstream in(file);
  if (!in) return make_error(Code::kNotFound, "cannot open trace {}", file);
  std::string line;
  std::vector<std::string_view> f;
  if (!std::getline(in, line)) return make_error(Code::kCorrupt, "{}: empty file", file);
  split_csv(line, f);
  int app_col = column(f, "app"), end_col = column(f, "end_timestamp"), dur_col = column(f, "duration");
  if (app_col < 0 || end_col < 0 || dur_col < 0)
    return make_error(Code::kCorrupt, "{}: header needs app, end_timestamp, duration", file);
  Trace t;
  t.format = "azure2021";
  std::unordered_map<std::string, size_t> app_index;
  double max_end = 0.0;
  size_t row = 1;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty()) continue;
    split_csv(line, f);
    double end = 0, dur = 0;
    if (static_cast<int>(f.size()) <= std::max({app_col, end_col, dur_col}) || !parse_number(f[end_col], end) ||
        !parse_number(f[dur_col], dur) || !std::isfinite(end) || !std::isfinite(dur) || dur < 0 || end < 0)
      return make_error(Code::kCorrupt, "{}:{}: bad row", file, row);
    auto [it, inserted] = app_index.emplace(std::string(f[app_col]), t.apps.size());
    if (inserted) {
      TraceApp a;
      a.id = std::string(f[app_col]);
      a.memory_mb = opts.default_memory_mb;
      t.apps.push_back(std::move(a));
    }
    TraceApp& a = t.apps[it->second];
    a.arrival_us.push_back(static_cast<int64_t>(std::max(0.0, end - dur) * 1e6));
    a.duration_ms.push_back(static_cast<float>(dur * 1000.0));
    max_end = std::max(max_end, end);
  }
  for (auto& a : t.apps) sort_by_arrival(a);
  t.horizon = std::chrono::minutes(static_cast<int64_t>(std::ceil(max_end / 60.0)));
  finish(t, opts);
  return t;
}

Result<Trace> read_trace(const std::string& path, const TraceOptions& opts) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return read_azure2019(path, opts);
  if (fs::is_regular_file(path, ec)) return read_azure2021(path, opts);
  return make_error(Code::kNotFound, "trace {} does not exist", path);
}

}  // namespace thaw::sim
