// Drives a policy through synthetic arrivals as the live manager would (zero-length requests):
// on_invocation at each arrival, on_idle right after it, tick after both. Returns the rung each
// arrival found.
#pragma once

#include <vector>

#include "policy/policy.h"

namespace thaw::policy::testing {

inline std::vector<Rung> drive(Policy& p, AppId app, const std::vector<double>& arrival_minutes) {
  std::vector<Rung> found;
  IdlePlan plan(Rung::kDisk);  // nothing resident before the first call
  Nanos idle_start{0};
  for (double m : arrival_minutes) {
    Nanos t = minutes(m);
    found.push_back(plan.rung_at(t - idle_start));
    p.on_invocation(app, t);
    plan = p.on_idle(app, t);  // zero-length requests: idle again at once
    idle_start = t;
    p.tick(t);
  }
  return found;
}

inline std::vector<double> every(double period_min, int count, double start = 0.0) {
  std::vector<double> v;
  for (int i = 0; i < count; ++i) v.push_back(start + period_min * i);
  return v;
}

inline int count_rung(const std::vector<Rung>& v, Rung r, size_t from = 0) {
  int n = 0;
  for (size_t i = from; i < v.size(); ++i) n += v[i] == r;
  return n;
}

}  // namespace thaw::policy::testing
