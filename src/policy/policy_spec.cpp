#include "policy/policy_spec.h"

#include <charconv>
#include <cmath>
#include <map>

#include "policy/faascache.h"
#include "policy/fixed_keepalive.h"
#include "policy/gbm_policy.h"
#include "policy/hybrid_histogram.h"
#include "policy/ladder.h"
#include "policy/spes.h"

namespace thaw::policy {
namespace {

struct Params {
  std::string name;
  std::map<std::string, double, std::less<>> values;
};

Result<Params> parse(std::string_view spec) {
  Params p;
  size_t colon = spec.find(':');
  p.name = std::string(spec.substr(0, colon));
  if (p.name.empty()) return make_error(Code::kInvalidArgument, "policy spec '{}': missing name", spec);
  if (colon == std::string_view::npos) return p;
  std::string_view rest = spec.substr(colon + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view kv = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return make_error(Code::kInvalidArgument, "policy spec '{}': '{}' is not param=value", spec, kv);
    std::string_view val = kv.substr(eq + 1);
    double v = 0.0;
    auto [ptr, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
    if (ec != std::errc() || ptr != val.data() + val.size() || !std::isfinite(v))
      return make_error(Code::kInvalidArgument, "policy spec '{}': '{}' is not a number", spec, val);
    p.values.emplace(std::string(kv.substr(0, eq)), v);
  }
  return p;
}

// Takes the named parameters out of `p`, leaving unknown ones behind to report.
class Taker {
 public:
  explicit Taker(Params& p) : p_(p) {}
  Status get(const char* key, double& out, double lo, double hi) {
    auto it = p_.values.find(key);
    if (it == p_.values.end()) return Status::ok();
    if (!(it->second >= lo && it->second <= hi))
      return make_error(Code::kInvalidArgument, "policy {}: {}={} is outside [{}, {}]", p_.name, key, it->second, lo, hi);
    out = it->second;
    p_.values.erase(it);
    return Status::ok();
  }
  Status get(const char* key, int& out, int lo, int hi) {
    double v = out;
    THAW_TRY(get(key, v, lo, hi));
    if (v != std::floor(v)) return make_error(Code::kInvalidArgument, "policy {}: {} must be an integer", p_.name, key);
    out = static_cast<int>(v);
    return Status::ok();
  }
  Status done() const {
    if (p_.values.empty()) return Status::ok();
    return make_error(Code::kInvalidArgument, "policy {}: unknown parameter '{}'", p_.name, p_.values.begin()->first);
  }

 private:
  Params& p_;
};

}  // namespace

Result<std::unique_ptr<Policy>> make_policy(std::string_view spec, const RungProfile& profile) {
  THAW_ASSIGN_OR_RETURN(Params p, parse(spec));
  Taker t(p);
  const std::string name = p.name;
  if (name == "fixed" || name == "fixed4" || name == "fixed10" || name == "fixed20") {
    double ka = name == "fixed4" ? 4 : name == "fixed20" ? 20 : 10;
    THAW_TRY(t.get("keepalive_min", ka, 0.0, 1e6));
    THAW_TRY(t.done());
    return std::unique_ptr<Policy>(std::make_unique<FixedKeepAlive>(ka));
  }
  if (name == "hybrid") {
    HybridHistogramConfig c;
    THAW_TRY(t.get("range_min", c.range_minutes, 1, 10080));
    THAW_TRY(t.get("head", c.head_percentile, 0.0, 1.0));
    THAW_TRY(t.get("tail", c.tail_percentile, 0.0, 1.0));
    THAW_TRY(t.get("margin", c.margin, 0.0, 1.0));
    THAW_TRY(t.get("cv", c.cv_threshold, 0.0, 1e6));
    THAW_TRY(t.get("oob", c.oob_threshold, 0.0, 1.0));
    THAW_TRY(t.done());
    if (c.head_percentile > c.tail_percentile)
      return make_error(Code::kInvalidArgument, "policy hybrid: head must not exceed tail");
    return std::unique_ptr<Policy>(std::make_unique<HybridHistogram>(c));
  }
  if (name == "gbm") {
    GbmConfig c;
    THAW_TRY(t.get("hazard", c.hazard, 0.0, 1.0));
    THAW_TRY(t.get("retrain_min", c.retrain_minutes, 1.0, 1e6));
    THAW_TRY(t.get("trees", c.model.trees, 1, 1000));
    THAW_TRY(t.get("depth", c.model.max_depth, 1, 16));
    THAW_TRY(t.done());
    return std::unique_ptr<Policy>(std::make_unique<GbmPolicy>(c));
  }
  if (name == "ladder") {
    LadderConfig c;
    THAW_TRY(t.get("lambda", c.lambda, 0.0, 1e12));
    THAW_TRY(t.get("budget_gb", c.budget_gb, 0.0, 1e9));
    THAW_TRY(t.get("range_min", c.range_minutes, 1, 10080));
    THAW_TRY(t.get("prior", c.prior_weight, 0.0, 1e6));
    THAW_TRY(t.get("floor", c.prior_floor, 0.0, 1.0));
    THAW_TRY(t.get("spread", c.spread, 0.0, 0.5));
    THAW_TRY(t.get("tail_min", c.tail_minutes, 0.0, 1e6));
    THAW_TRY(t.done());
    return std::unique_ptr<Policy>(std::make_unique<LadderPolicy>(c, profile));
  }
  if (name == "spes") {
    SpesConfig c;
    THAW_TRY(t.get("prewarm_min", c.prewarm_min, 0.0, 1440.0));
    THAW_TRY(t.get("giveup_scale", c.giveup_scale, 0.0, 1e4));
    THAW_TRY(t.done());
    return std::unique_ptr<Policy>(std::make_unique<Spes>(c));
  }
  if (name == "faascache") {
    FaasCacheConfig c;
    THAW_TRY(t.get("capacity_gb", c.capacity_gb, 0.0, 1e9));
    THAW_TRY(t.get("capacity_share", c.capacity_share, 0.0, 1.0));
    THAW_TRY(t.done());
    return std::unique_ptr<Policy>(std::make_unique<FaasCache>(c, profile));
  }
  return make_error(Code::kInvalidArgument, "unknown policy '{}' (known: {})", name, policy_help());
}

Result<std::vector<std::string>> sweep_specs(std::string_view family) {
  std::vector<std::string> out;
  if (family == "fixed" || family == "fixed4" || family == "fixed10" || family == "fixed20") {
    for (int m : {1, 2, 4, 5, 10, 20, 30, 60, 120, 240}) out.push_back(fmt::format("fixed:keepalive_min={}", m));
  } else if (family == "hybrid") {
    // The paper's sweep varies the histogram range.
    for (int r : {60, 120, 180, 240, 300, 360}) out.push_back(fmt::format("hybrid:range_min={}", r));
  } else if (family == "gbm") {
    for (double h : {0.01, 0.02, 0.05, 0.1, 0.2}) out.push_back(fmt::format("gbm:hazard={:g}", h));
  } else if (family == "ladder") {
    for (double l : {1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6})
      out.push_back(fmt::format("ladder:lambda={:g}", l));
  } else if (family == "spes") {
    // SPES has no trade-off knob of its own: the sweep stretches every category's keep-alive.
    for (double g : {2, 4, 8, 16, 32, 64}) out.push_back(fmt::format("spes:giveup_scale={:g}", g));
  } else if (family == "faascache") {
    for (double c : {0.2, 0.3, 0.4, 0.5, 0.6, 0.8})
      out.push_back(fmt::format("faascache:capacity_share={:g}", c));
  } else {
    return make_error(Code::kInvalidArgument, "no sweep for policy '{}'", family);
  }
  return out;
}

std::string policy_help() {
  return "fixed[:keepalive_min=M], fixed4, fixed10, fixed20, "
         "hybrid[:range_min,head,tail,margin,cv,oob], gbm[:hazard,retrain_min,trees,depth], "
         "ladder[:lambda,budget_gb,range_min,prior,floor,spread,tail_min], spes[:prewarm_min,giveup_scale], "
         "faascache[:capacity_gb,capacity_share]";
}

}  // namespace thaw::policy
