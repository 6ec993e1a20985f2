#include "manager/tier.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace thaw::manager {

std::string_view tier_name(Tier t) {
  switch (t) {
    case Tier::kPremium: return "premium";
    case Tier::kStandard: return "standard";
    case Tier::kBatch: return "batch";
  }
  return "standard";
}

Result<Tier> parse_tier(std::optional<std::string_view> header) {
  if (!header || header->empty()) return Tier::kStandard;
  std::string v(*header);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  for (Tier t : kAllTiers)
    if (v == tier_name(t)) return t;
  return make_error(Code::kInvalidArgument, "unknown {} '{}'; use premium, standard or batch", kTierHeader,
                    *header);
}

}  // namespace thaw::manager
