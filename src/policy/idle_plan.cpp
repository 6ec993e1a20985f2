#include "policy/idle_plan.h"

#include <algorithm>
#include <cassert>

namespace thaw::policy {

IdlePlan& IdlePlan::then(Nanos start, Rung r) {
  assert(start >= steps_.back().start);
  if (steps_.back().rung == r) return *this;
  if (start == steps_.back().start) {
    steps_.back().rung = r;
    if (steps_.size() > 1 && steps_[steps_.size() - 2].rung == r) steps_.pop_back();
    return *this;
  }
  steps_.push_back({start, r});
  return *this;
}

IdlePlan& IdlePlan::hold(Nanos from, Nanos to, Rung r, Rung after) {
  if (to <= from) return *this;
  then(from, r);
  return then(to, after);
}

Rung IdlePlan::rung_at(Nanos offset) const {
  // Plans have a handful of steps: a linear scan beats a binary search here.
  Rung r = steps_.front().rung;
  for (const Step& s : steps_) {
    if (s.start > offset) break;
    r = s.rung;
  }
  return r;
}

std::optional<Nanos> IdlePlan::next_change(Nanos offset) const {
  for (const Step& s : steps_)
    if (s.start > offset) return s.start;
  return std::nullopt;
}

std::array<double, kRungCount> IdlePlan::seconds_at_rungs(Nanos until) const {
  std::array<double, kRungCount> out{};
  for (size_t i = 0; i < steps_.size(); ++i) {
    Nanos begin = steps_[i].start;
    if (begin >= until) break;
    Nanos end = i + 1 < steps_.size() ? std::min(steps_[i + 1].start, until) : until;
    out[index(steps_[i].rung)] += to_seconds(end - begin);
  }
  return out;
}

}  // namespace thaw::policy
