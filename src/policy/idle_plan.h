// What a policy decides for one idle period of one model: which rung to hold at each offset
// after the model went idle. The live manager follows it with timers; the simulator evaluates it.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "policy/rung.h"

namespace thaw::policy {

class IdlePlan {
 public:
  struct Step {
    Nanos start;  // offset from the start of the idle period
    Rung rung;
  };

  // A plan that holds one rung for the whole idle period (the disk: nothing held).
  IdlePlan() : IdlePlan(Rung::kDisk) {}
  explicit IdlePlan(Rung r) { steps_.push_back({Nanos{0}, r}); }

  // Holds `r` from offset `start` on (until a later step). Steps must come in increasing order;
  // a step equal to the current rung is merged away.
  IdlePlan& then(Nanos start, Rung r);
  // Convenience: hold `r` on [from, to) and return to `after` at `to`.
  IdlePlan& hold(Nanos from, Nanos to, Rung r, Rung after);

  Rung rung_at(Nanos offset) const;
  // The next offset strictly after `offset` where the rung changes; nullopt when it never does.
  std::optional<Nanos> next_change(Nanos offset) const;
  // Seconds spent at each rung during the first `until` of the idle period.
  std::array<double, kRungCount> seconds_at_rungs(Nanos until) const;
  const std::vector<Step>& steps() const { return steps_; }

 private:
  std::vector<Step> steps_;
};

}  // namespace thaw::policy
