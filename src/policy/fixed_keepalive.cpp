#include "policy/fixed_keepalive.h"

#include <fmt/format.h>

namespace thaw::policy {

FixedKeepAlive::FixedKeepAlive(double keepalive_minutes) : keepalive_minutes_(keepalive_minutes) {
  plan_ = IdlePlan(Rung::kWarm);
  plan_.then(minutes(keepalive_minutes), Rung::kDisk);
}

std::string FixedKeepAlive::spec() const { return fmt::format("fixed:keepalive_min={:g}", keepalive_minutes_); }

}  // namespace thaw::policy
