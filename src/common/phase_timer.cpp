#include "common/phase_timer.h"

#include <nlohmann/json.hpp>

namespace thaw {

nlohmann::json PhaseTimer::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, d] : phases_) j[name + "_ms"] = to_ms(d);
  j["total_ms"] = to_ms(total());
  return j;
}

}  // namespace thaw
