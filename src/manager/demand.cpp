#include "manager/demand.h"

#include <algorithm>

namespace thaw::manager {

const char* demand_event_name(DemandEvent e) {
  switch (e) {
    case DemandEvent::kWaitingAtZero: return "waiting_at_zero";
    case DemandEvent::kPrewarmPlanned: return "prewarm_planned";
    case DemandEvent::kBecameActive: return "became_active";
    case DemandEvent::kFellToZero: return "fell_to_zero";
  }
  return "?";
}

uint64_t DemandHub::subscribe(DemandListener listener) {
  std::lock_guard lock(mu_);
  listeners_.emplace_back(next_id_, std::move(listener));
  return next_id_++;
}

void DemandHub::unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(listeners_, [id](const auto& l) { return l.first == id; });
}

// Under the mutex, so that an unsubscribed listener is never called afterwards; listeners only
// record and wake, so holding it costs nothing.
void DemandHub::publish(const std::string& model, DemandEvent event) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, listener] : listeners_) listener(model, event);
}

}  // namespace thaw::manager
