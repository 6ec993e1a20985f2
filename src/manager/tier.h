// Latency tiers, chosen per request with the X-Latency-Tier header.
//   premium   may use the model's reserved warm pool; waits ahead of everyone else
//   standard  the default: the normal ladder (a cold start is absorbed by the queue)
//   batch     waits behind everyone, and is the first to be shed (429) when a queue fills up
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"

namespace thaw::manager {

enum class Tier : uint8_t { kPremium = 0, kStandard = 1, kBatch = 2 };
inline constexpr int kTierCount = 3;
inline constexpr std::array<Tier, kTierCount> kAllTiers = {Tier::kPremium, Tier::kStandard, Tier::kBatch};
inline constexpr std::string_view kTierHeader = "X-Latency-Tier";

std::string_view tier_name(Tier t);
inline int index(Tier t) { return static_cast<int>(t); }

// The header's value (case-insensitive); an absent header is standard, an unknown value an error.
Result<Tier> parse_tier(std::optional<std::string_view> header);

}  // namespace thaw::manager
