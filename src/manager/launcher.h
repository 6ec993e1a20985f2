// Everything the manager asks of the operating system, behind one interface: starting instances
// and zygotes, stopping them, the page cache, memory and keep-warm pings. The process launcher
// does it for real; the fake one (tests, `thaw sim`) does it on simulated time.
//
// Contract: every call returns at once; the work happens elsewhere and its callback runs later,
// never inside the call that asked for it (callers may hold their locks while asking).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/endpoint.h"
#include "policy/rung.h"

namespace thaw::manager {

// A running worker instance.
class WorkerHandle {
 public:
  virtual ~WorkerHandle() = default;
  virtual pid_t pid() const = 0;
  virtual const http::Endpoint& endpoint() const = 0;
  // Forked from a zygote (it shares the template's pages and dies with it).
  virtual bool forked() const = 0;
  // False once it has exited. Cheap: called on every tick.
  virtual bool alive() = 0;
  // Proportional set size in bytes, 0 when unknown. Called about once a second.
  virtual uint64_t memory_bytes() = 0;
  // Why its launcher killed it, when it did so for a cause a client should hear (a start while
  // fetching whose rest of the bundle failed: 502/503/507 as for a failed start); ok otherwise.
  // Any thread.
  virtual Status killed_because() { return Status::ok(); }
};

// A loaded template that forks instances.
class ZygoteHandle {
 public:
  virtual ~ZygoteHandle() = default;
  virtual pid_t pid() const = 0;
  virtual bool alive() = 0;
  virtual uint64_t memory_bytes() = 0;
};

struct StartSpec {
  std::string model;
  std::string bundle;
  std::vector<std::string> args;  // extra worker flags (the model's worker_args, its name)
  std::string log_path;
  http::Endpoint endpoint;         // where an instance listens
  std::string control_path;        // where a zygote takes its fork requests
  std::chrono::milliseconds ready_timeout{120'000};
};

class Launcher {
 public:
  using InstanceDone = std::function<void(Result<std::shared_ptr<WorkerHandle>>)>;
  using ZygoteDone = std::function<void(Result<std::shared_ptr<ZygoteHandle>>)>;
  using Done = std::function<void(Status)>;

  virtual ~Launcher() = default;
  // A fresh instance, or (with `zygote`) one forked from that template.
  virtual void start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) = 0;
  virtual void start_zygote(const StartSpec& spec, ZygoteDone done) = 0;
  // Stops: gracefully (requests in flight get `grace`), or at once. `done` may be empty.
  virtual void stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds grace, Done done) = 0;
  virtual void kill(std::shared_ptr<WorkerHandle> worker) = 0;
  virtual void stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds grace, Done done) = 0;
  // A keep-warm ping (GET /warm); an error means the instance should be replaced.
  virtual void ping(std::shared_ptr<WorkerHandle> worker, Done done) = 0;

  // Where a bundle's bytes are now: kPageCache (mostly resident), kDisk, or kRegistry (no local
  // copy: a start fetches it first).
  virtual policy::Rung storage_rung(const std::string& bundle) = 0;
  virtual void warm_page_cache(const std::string& bundle, Done done) = 0;
  virtual void evict(const std::string& bundle, Done done) = 0;
  // What getting the bundle onto local disk would cost now, in ms (its bytes over the measured
  // fetch bandwidth plus the source's latency): 0 when it is there (storage_rung is not kRegistry).
  virtual double fetch_cost_ms(const std::string& bundle) {
    (void)bundle;
    return 0.0;
  }
  // The bundle's bytes in the page cache now (for the measured profile); 0 when unknown.
  virtual uint64_t cached_bytes(const std::string& bundle) {
    (void)bundle;
    return 0;
  }

  // Waits (bounded) until every stop and start asked for so far has finished; for shutdown.
  virtual void drain(std::chrono::milliseconds limit) = 0;
};

}  // namespace thaw::manager
