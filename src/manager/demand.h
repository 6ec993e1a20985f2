// What an outside autoscaler (the KEDA scaler of `thaw serve`) may know of a model's demand: a
// snapshot to query, and events to subscribe to. Plain types only: the gRPC module includes this
// header without linking the manager.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace thaw::manager {

struct ModelDemand {
  uint64_t waiting = 0;    // requests queued for a slot
  uint64_t in_flight = 0;  // requests on an instance
  int instances = 0;       // live instances
  int starting = 0;        // instance starts under way
  int concurrency = 1;     // requests one instance takes at once
  // Anything to serve or keep: waiting, in flight, an instance live or starting. Inactive is the
  // zero rung, where the cluster may remove the pod's capacity.
  bool active() const { return waiting + in_flight > 0 || instances + starting > 0; }
};

enum class DemandEvent {
  kWaitingAtZero,   // a request waits and the model has no live instance
  kPrewarmPlanned,  // the policy starts an instance ahead of the next request
  kBecameActive,    // active otherwise: a floor's start, a background start, an admin hold
  kFellToZero,      // no instance live or starting, nothing waiting or in flight
};

const char* demand_event_name(DemandEvent e);

using DemandListener = std::function<void(const std::string& model, DemandEvent event)>;

// Fans events out to subscribers. Listeners run on the manager's threads, kWaitingAtZero with the
// model's mutex held (the others without): they must return at once (record and wake, never wait)
// and never call back into the manager. Thread-safe.
class DemandHub {
 public:
  // Until unsubscribe(id) returns, which waits out a call in progress.
  uint64_t subscribe(DemandListener listener);
  void unsubscribe(uint64_t id);
  void publish(const std::string& model, DemandEvent event) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<uint64_t, DemandListener>> listeners_;
  uint64_t next_id_ = 1;
};

}  // namespace thaw::manager
