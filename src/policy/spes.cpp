#include "policy/spes.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace thaw::policy {

std::string_view spes_type_name(SpesType t) {
  switch (t) {
    case SpesType::kUnknown: return "unknown";
    case SpesType::kWarm: return "always_warm";
    case SpesType::kRegular: return "regular";
    case SpesType::kApproRegular: return "appro_regular";
    case SpesType::kDense: return "dense";
    case SpesType::kSuccessive: return "successive";
    case SpesType::kPulsed: return "pulsed";
    case SpesType::kPossible: return "possible";
  }
  return "?";
}

Spes::Spes(SpesConfig config) : cfg_(config) {}

std::string Spes::spec() const {
  return fmt::format("spes:prewarm_min={:g},giveup_scale={:g}", cfg_.prewarm_min, cfg_.giveup_scale);
}

void Spes::add_app(AppId app, const AppInfo&) {
  if (app >= apps_.size()) apps_.resize(app + 1);
}

void Spes::on_invocation(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  const int64_t m = now / kMinute;
  if (a.last_minute < 0) {
    a.first_minute = m;
    a.run = 1;
    a.invoked_minutes = 1;
  } else if (m == a.last_minute + 1) {
    ++a.run;
    ++a.invoked_minutes;
    // A function invoked every minute ends no WT: the always-warm test (O(1)) runs here too.
    a.last_minute = m;
    if (a.type != SpesType::kWarm && always_warm(a)) a.type = SpesType::kWarm;
  } else if (m > a.last_minute + 1) {
    // A waiting time ended: the idle minutes between two invoked ones.
    auto push = [&](std::deque<uint32_t>& q, uint32_t v) {
      q.push_back(v);
      if (q.size() > static_cast<size_t>(cfg_.history)) q.pop_front();
    };
    push(a.wts, static_cast<uint32_t>(m - a.last_minute - 1));
    push(a.runs, a.run);
    a.run = 1;
    ++a.invoked_minutes;
    a.dirty = true;
  }
  a.last_minute = std::max(a.last_minute, m);
}

bool Spes::always_warm(const App& a) const {
  const double span = static_cast<double>(a.last_minute - a.first_minute + 1);
  return span >= cfg_.warm_span_min && static_cast<double>(a.invoked_minutes) >= cfg_.warm_share * span;
}

double Spes::giveup_min(SpesType t) const {
  switch (t) {
    case SpesType::kWarm: return std::numeric_limits<double>::infinity();
    case SpesType::kDense: return cfg_.dense_bound_min * cfg_.giveup_scale;
    case SpesType::kPulsed: return cfg_.pulsed_giveup_min * cfg_.giveup_scale;
    default: return cfg_.giveup_min * cfg_.giveup_scale;
  }
}

void Spes::categorise(App& a) {
  a.dirty = false;
  a.points.clear();
  if (always_warm(a)) {
    a.type = SpesType::kWarm;
    return;
  }
  sorted_.assign(a.wts.begin(), a.wts.end());
  std::sort(sorted_.begin(), sorted_.end());
  const size_t n = sorted_.size();
  const double nn = static_cast<double>(n);
  const bool enough = n >= static_cast<size_t>(cfg_.min_wts);
  // Distinct WT values by how often they occur, most frequent (then shortest) first.
  freq_.clear();
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && sorted_[j] == sorted_[i]) ++j;
    freq_.emplace_back(static_cast<uint32_t>(j - i), sorted_[i]);
    i = j;
  }
  std::sort(freq_.begin(), freq_.end(), [](const auto& x, const auto& y) {
    return x.first != y.first ? x.first > y.first : x.second < y.second;
  });
  if (enough) {
    double sum = 0.0, sq = 0.0;
    for (uint32_t w : sorted_) {
      sum += w;
      sq += static_cast<double>(w) * w;
    }
    const double mean = sum / nn;
    const double sd = std::sqrt(std::max(0.0, sq / nn - mean * mean));
    if (sd <= cfg_.regular_sd_min) {
      a.type = SpesType::kRegular;
      a.center = n % 2 ? sorted_[n / 2] : 0.5 * (sorted_[n / 2 - 1] + sorted_[n / 2]);
      a.half = sd;
      return;
    }
    uint32_t top = 0;
    for (size_t i = 0; i < freq_.size() && i < static_cast<size_t>(cfg_.modes); ++i) top += freq_[i].first;
    if (top >= cfg_.mode_share * nn) {
      a.type = SpesType::kApproRegular;
      // The frequent values that carry more than a tenth of the WTs each.
      for (size_t i = 0; i < freq_.size() && i < static_cast<size_t>(cfg_.modes); ++i)
        if (freq_[i].first > 0.1 * nn) a.points.push_back(freq_[i].second);
      return;
    }
  }
  // Up to five recurring values (seen at least twice): the predictors of the last categories.
  std::vector<uint32_t> recurring;
  for (size_t i = 0; i < freq_.size() && recurring.size() < 5; ++i)
    if (freq_[i].first >= 2) recurring.push_back(freq_[i].second);
  if (enough) {
    const size_t q = static_cast<size_t>(std::ceil(cfg_.dense_quantile * nn));
    if (sorted_[std::min(n - 1, q > 0 ? q - 1 : 0)] <= cfg_.dense_bound_min) {
      a.type = SpesType::kDense;
      if (!recurring.empty()) {
        a.lo = *std::min_element(recurring.begin(), recurring.end());
        a.hi = std::min<double>(cfg_.discrete_min, *std::max_element(recurring.begin(), recurring.end()));
      } else {
        a.lo = sorted_.front();
        a.hi = std::min<double>(cfg_.dense_bound_min, sorted_.back());
      }
      return;
    }
  }
  if (a.runs.size() >= static_cast<size_t>(cfg_.min_wts)) {
    std::vector<uint32_t> runs(a.runs.begin(), a.runs.end());
    std::nth_element(runs.begin(), runs.begin() + static_cast<std::ptrdiff_t>(runs.size() / 2), runs.end());
    if (runs[runs.size() / 2] >= 2) {
      a.type = SpesType::kSuccessive;
      return;
    }
  }
  if (enough) {
    const auto short_gaps = std::upper_bound(sorted_.begin(), sorted_.end(), cfg_.pulsed_giveup_min) - sorted_.begin();
    if (static_cast<double>(short_gaps) >= 0.5 * nn) {
      a.type = SpesType::kPulsed;
      return;
    }
  }
  if (!recurring.empty()) {
    a.type = SpesType::kPossible;
    const auto [lo, hi] = std::minmax_element(recurring.begin(), recurring.end());
    if (*hi - *lo <= cfg_.discrete_min) {
      a.lo = *lo;
      a.hi = *hi;
    } else {
      a.points.assign(recurring.begin(), recurring.end());
    }
    return;
  }
  a.type = SpesType::kUnknown;
}

void Spes::build_plan(App& a, Nanos now) {
  if (a.type == SpesType::kWarm) {
    a.plan = IdlePlan(Rung::kWarm);
    return;
  }
  windows_.clear();
  // Keep-alive: whole minutes after the minute the model went idle in.
  const int64_t idle_minute = now / kMinute;
  windows_.emplace_back(now, minutes(static_cast<double>(idle_minute + 1) + giveup_min(a.type)));
  // Pre-loads: a predicted WT w puts the next invocation in minute last + 1 + w; the model is
  // loaded from prewarm minutes before that minute until prewarm minutes after it.
  const double anchor = static_cast<double>(a.last_minute + 1);
  const double pw = cfg_.prewarm_min;
  const Nanos horizon = now + minutes(cfg_.horizon_min);
  auto window = [&](double first, double last) {
    const Nanos from = minutes(std::ceil(anchor + first - pw));
    const Nanos to = minutes(std::floor(anchor + last + pw) + 1.0);
    if (to > now && from < horizon) windows_.emplace_back(std::max(from, now), std::min(to, horizon));
  };
  switch (a.type) {
    case SpesType::kRegular: {
      // Missed windows move on by one period: the prediction repeats until the next invocation.
      const double period = a.center + 1.0;
      for (double k = 0.0; anchor + a.center + k * period - a.half - pw < policy::to_minutes(horizon); ++k)
        window(a.center + k * period - a.half, a.center + k * period + a.half);
      break;
    }
    case SpesType::kApproRegular:
    case SpesType::kPossible:
      for (double p : a.points) window(p, p);
      if (a.type == SpesType::kPossible && a.points.empty()) window(a.lo, a.hi);
      break;
    case SpesType::kDense: window(a.lo, a.hi); break;
    default: break;
  }
  std::sort(windows_.begin(), windows_.end());
  a.plan = IdlePlan(Rung::kDisk);
  Nanos from{-1}, to{-1};
  for (const auto& [s, e] : windows_) {
    if (from >= Nanos{0} && s <= to) {
      to = std::max(to, e);
      continue;
    }
    if (from >= Nanos{0}) a.plan.hold(from - now, to - now, Rung::kWarm, Rung::kDisk);
    from = s;
    to = e;
  }
  if (from >= Nanos{0}) a.plan.hold(from - now, to - now, Rung::kWarm, Rung::kDisk);
}

const IdlePlan& Spes::on_idle(AppId app, Nanos now) {
  if (app >= apps_.size()) add_app(app, AppInfo{});
  App& a = apps_[app];
  if (a.dirty) categorise(a);
  build_plan(a, now);
  return a.plan;
}

}  // namespace thaw::policy
