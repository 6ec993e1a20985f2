// Drives a policy through synthetic arrivals the way the simulator does (zero-length requests):
// on_idle at the end of each request, on_invocation at the next arrival. Returns the rung each
// arrival found.
#pragma once

#include <vector>

#include "policy/policy.h"

namespace thaw::policy::testing {

inline std::vector<Rung> drive(Policy& p, AppId app, const std::vector<double>& arrival_minutes) {
  std::vector<Rung> found;
  bool first = true;
  Nanos idle_start{0};
  for (double m : arrival_minutes) {
    Nanos t = minutes(m);
    if (first) {
      found.push_back(Rung::kDisk);
      first = false;
    } else {
      found.push_back(p.on_idle(app, idle_start).rung_at(t - idle_start));
    }
    p.on_invocation(app, t);
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
