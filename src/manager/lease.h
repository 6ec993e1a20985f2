// One request's slot on one instance. Give it back by destroying it (on any thread); call
// mark_failed() first when the instance broke under the request: it then takes no new request and
// the manager replaces it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "common/clock.h"
#include "common/status.h"
#include "http/endpoint.h"
#include "policy/rung.h"

namespace thaw::manager {

class InstancePool;
struct ModelState;
struct Instance;

class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();

  const http::Endpoint& endpoint() const;
  uint64_t instance_id() const;
  // Expires when the instance is gone: connection pools keyed by instance drop their entries then.
  std::weak_ptr<const void> instance_token() const;
  std::chrono::milliseconds request_timeout() const;
  // How long the request waited for its slot.
  Nanos queued() const { return queued_; }
  // The rung this request had to climb from (nullopt: it found a warm instance).
  std::optional<policy::Rung> cold_from() const { return cold_from_; }
  void mark_failed() { failed_ = true; }
  // Why the instance's launcher killed it (WorkerHandle::killed_because); ok when it did not.
  Status instance_killed_because() const;
  bool failed() const { return failed_; }

 private:
  friend class InstancePool;
  Lease(InstancePool* pool, ModelState* model, std::shared_ptr<Instance> instance, Nanos queued,
        std::optional<policy::Rung> cold_from);
  void release();

  InstancePool* pool_ = nullptr;
  ModelState* model_ = nullptr;
  std::shared_ptr<Instance> instance_;
  Nanos queued_{0};
  std::optional<policy::Rung> cold_from_;
  bool failed_ = false;
};

}  // namespace thaw::manager
