// Builds a policy from a text spec, "name" or "name:param=value,...", the form the CLI, the
// simulator's sweeps and the gateway's config use. Unknown names or parameters are errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/policy.h"
#include "policy/rung.h"

namespace thaw::policy {

// Names: fixed (keepalive_min), fixed4 / fixed10 / fixed20 (presets), hybrid (range_min, head,
// tail, margin, cv, oob), gbm (k, retrain_min, trees, depth), ladder (lambda, budget_gb,
// range_min, prior, spread, tail_min), spes (prewarm_min, giveup_scale), faascache (capacity_gb, capacity_share).
// The profile gives the ladder and faascache their rung costs.
Result<std::unique_ptr<Policy>> make_policy(std::string_view spec, const RungProfile& profile);

// A parameter sweep of one policy family (the x/y points of its Pareto frontier).
Result<std::vector<std::string>> sweep_specs(std::string_view family);

// Lists the accepted names, for --help.
std::string policy_help();

}  // namespace thaw::policy
