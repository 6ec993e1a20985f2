// The local store of models `thaw serve` fetches from a source (thaw.yaml `source:`): one bundle
// file per model version, DIR/NAME/VERSION.thaw, fetched on first need (or at start: prefetch), by
// chunks, reusing the chunks an earlier local version shares (cache/bundle_fetch.h). The store is
// the ladder's registry rung: a model whose file is absent is there, and a start fetches it first.
//
// Disk budget: a fetch reserves its bundle's size before its download starts (once the source told
// the size), deleting unused copies to make room, least recently used first; pinned models and
// copies in use (a lease: a fetch or a running instance) are kept. A bundle that cannot fit beside
// them fails with kNoSpace (507) naming the budget, so the store never exceeds it. After each fetch
// and whenever a copy stops being used, copies beyond the budget are deleted the same way. A
// deleted copy moves its model from the disk rung to the registry rung. An evicted copy leaves its
// path under the store's lock (renamed aside, then deleted), so a fetch of the same version that
// follows at once can never lose its new file to the old copy's deletion.
//
// Durability (manager/store_durability.h): a fetched copy is used as soon as it is renamed into the
// store; its fsync runs on a background thread, and a copy is recorded durable only after it. At
// open, a copy not recorded durable is verified in full again (or deleted) before it is used.
//
// Failures are values naming the cause (see fetch_bundle): kUpstream (502), kUnavailable (503),
// kNoSpace (507). Nothing partial is left in the store, and the next ensure() tries again.
//
// Thread-safe. ensure() blocks for the fetch: call it off the serving loops.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cache/bundle_fetch.h"
#include "cache/retry.h"
#include "cache/single_flight.h"
#include "cache/upstream.h"
#include "cache/version_index.h"
#include "common/clock.h"
#include "common/status.h"
#include "manager/store_durability.h"

namespace thaw::manager {

struct StoreOptions {
  std::string dir;                // "": no store (a model with a source is then an error)
  uint64_t budget_bytes = 0;      // local copies in all; 0: no budget
  int parallel = 4;               // range reads in flight per fetch
  std::chrono::milliseconds timeout{30'000};  // one range read
  std::chrono::milliseconds wait_timeout{600'000};  // waiting for another caller's fetch
  // Before the first fetch is measured: what a fetch costs (bytes / bandwidth + latency).
  double default_bandwidth_mb_s = 100.0;
  double default_latency_ms = 50.0;
  // The workers' verify-on-first-start markers (bundle::VerifiedCache): recovery drops those of
  // copies not recorded durable. "": none.
  std::string verify_cache_dir;
  // Called for each evicted copy (its path), outside the store's lock, after the copy left the
  // store and before its bytes are deleted. Optional.
  std::function<void(const std::string& path)> on_evicted;
  // Start while fetching (docs/registry.md): the byte ranges of a bundle a start reads, from its
  // manifest (engine::Registry::start_ranges); empty: everything, so no start before the whole
  // fetch. Unset, or start_while_fetching false (thaw.yaml store.start_while_fetching): never.
  std::function<std::vector<std::pair<uint64_t, uint64_t>>(const bundle::Manifest&)> start_ranges;
  bool start_while_fetching = true;
};

// A model version the store fetches.
struct StoredModel {
  std::string name;
  std::string version;
  std::string source;  // http://HOST:PORT/PATH
  std::string sha256;  // expected hash of the whole file (hex); "": not checked
  bool pinned = false;  // never evicted
};

class ModelStore;

// Keeps a local copy from eviction while held (a fetch that just finished, a running instance).
class StoreLease {
 public:
  StoreLease(ModelStore* store, std::string path) : store_(store), path_(std::move(path)) {}
  ~StoreLease();
  StoreLease(const StoreLease&) = delete;
  StoreLease& operator=(const StoreLease&) = delete;
  const std::string& path() const { return path_; }

 private:
  ModelStore* store_;
  std::string path_;
};

class ModelStore {
 public:
  // Creates `dir`, deletes leftover temp files, and counts the copies already there.
  static Result<std::unique_ptr<ModelStore>> open(StoreOptions options, const Clock& clock);

  // Registers a model version; returns its local path (the bundle the manager starts).
  Result<std::string> add(const StoredModel& model);
  // Whether `path` is one of this store's, and whether its copy is on disk now.
  bool knows(const std::string& path) const;
  bool present(const std::string& path) const;
  // Makes the copy local (one fetch however many callers; the next call retries a failed one) and
  // holds it until the lease goes.
  //
  // `on_first_phase` (optional): when this call runs the fetch, the start ranges are known, and the
  // model has no sha256 to check first, it is called on this thread with the temp file's path once
  // the bytes a start reads have arrived (each checked against its chunk's id), while the rest is
  // still to come; ensure() then returns when the whole fetch ends, as without it. At most once.
  Result<std::shared_ptr<StoreLease>> ensure(const std::string& path,
                                             const std::function<void(const std::string&)>& on_first_phase = {});
  // The source's size of the bundle, when known (from a fetch or probe()).
  uint64_t size_of(const std::string& path) const;
  // Learns the bundle's size from the source (one small range read) so fetch_cost_ms can price it.
  Status probe(const std::string& path);
  // What a fetch of `path` costs a start now, ms: 0 when present; bytes / measured bandwidth +
  // latency, the bytes being the first phase's when the last fetch started an instance on it.
  double fetch_cost_ms(const std::string& path) const;
  // Whether the copy's bytes are known to be on disk (its background fsync finished).
  bool durable(const std::string& path) const;
  // Waits until every fetched copy's background fsync has finished.
  void wait_durable();
  // Deletes local copies beyond the budget (least recently used, unpinned, unleased first).
  void enforce_budget();
  // Local bytes now, and the budget.
  uint64_t bytes() const;
  const StoreOptions& options() const { return options_; }
  // Per model: source, path, present, size, pinned, leases, last fetch; the store's totals and the
  // bandwidth and latency it measured (GET /admin/models "store").
  nlohmann::json describe() const;

 private:
  friend class StoreLease;
  ModelStore(StoreOptions options, const Clock& clock);
  struct Entry {
    StoredModel model;
    std::string path;
    std::string url_path;  // on the source
    std::string base;      // http://host:port
    uint64_t size = 0;     // from the source; 0: unknown
    int leases = 0;
    bool present = false;
    bool durable = false;   // fsynced and recorded (store_durability.h)
    std::optional<cache::BundleFetchReport> last_fetch;
    std::string last_error;
    uint64_t fetches = 0, failures = 0, evictions = 0;
  };
  Result<cache::Upstream*> source_for(const std::string& base);
  Status fetch(const std::string& path, const std::function<void(const std::string&)>& on_first_phase);
  void release(const std::string& path);
  // With mu_ held: drops copies beyond the budget (all_unused: the least recently used one nobody
  // holds), moving each file aside; returns the moved files, for remove_files() after the lock.
  std::vector<std::string> evictions_locked(bool all_unused);
  // With mu_ held: reserves `bytes` for a fetch of `model` against the budget, evicting unused
  // copies into `trash`; kNoSpace naming the budget when they cannot make room.
  Status reserve_locked(const StoredModel& model, uint64_t bytes, std::vector<std::string>* trash);
  // Deletes files evictions_locked() moved aside (each evicted copy's path first to on_evicted).
  void remove_files(const std::vector<std::string>& trash);

  StoreOptions options_;
  const Clock& clock_;
  cache::RealSleeper sleeper_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by local path
  cache::VersionIndex index_;             // local copies: LRU, pins, leases, bytes
  std::map<std::string, std::unique_ptr<cache::Upstream>> sources_;
  double bandwidth_mb_s_ = 0.0, latency_ms_ = 0.0;  // measured (0: not yet)
  uint64_t reserved_ = 0;  // bytes reserved by fetches under way (not in index_ yet)
  cache::SingleFlight<int> flight_;
  // Last: stopped (finishing what is queued) before the members its reports use.
  std::unique_ptr<BackgroundSync> sync_;
};

}  // namespace thaw::manager
