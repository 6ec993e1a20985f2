// The cache itself: knows each cached version's recipe, fetches what is missing from the upstream
// (header and manifest first, then chunks by range in parallel), keeps the chunk store within the
// version index's limits, and counts what happens. Concurrent requests for the same version or
// chunk share one upstream fetch. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cache/chunk_store.h"
#include "cache/recipe.h"
#include "cache/retry.h"
#include "cache/single_flight.h"
#include "cache/upstream.h"
#include "cache/version_index.h"
#include "cache/worker_pool.h"
#include "common/clock.h"

namespace thaw::cache {

struct CacheOptions {
  std::string dir;  // chunks/ and versions/ live here
  IndexLimits limits;
  UpstreamOptions upstream;
  int fetch_threads = 8;                            // parallel chunk fetches from the upstream
  std::chrono::milliseconds wait_timeout{300'000};  // waiting for another request's fetch
  uint64_t head_probe_bytes = 1 << 20;              // first read of a bundle; grown if the manifest is longer
  bool verify_on_start = true;                      // re-hash every chunk at start-up
};

struct CacheCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> hits{0};  // version requests served with every chunk already local
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> chunk_hits{0};
  std::atomic<uint64_t> chunk_misses{0};  // chunks fetched from the upstream
  std::atomic<uint64_t> bytes_served{0};
  std::atomic<uint64_t> evicted_versions{0};
  std::atomic<uint64_t> evicted_chunks{0};
  std::atomic<uint64_t> evicted_bytes{0};
  std::atomic<uint64_t> corrupt_chunks{0};  // upstream bytes that failed their hash
  std::atomic<uint64_t> prefetches{0};
  std::atomic<uint64_t> store_errors{0};  // chunks that could not be written to the cache directory
};

class CacheService;

// Keeps a version from eviction while held; gives access to its recipe.
class VersionLease {
 public:
  VersionLease(CacheService* owner, std::shared_ptr<const Recipe> recipe)
      : owner_(owner), recipe_(std::move(recipe)) {}
  VersionLease(VersionLease&& o) noexcept
      : owner_(std::exchange(o.owner_, nullptr)), recipe_(std::move(o.recipe_)) {}
  VersionLease& operator=(VersionLease&&) = delete;
  VersionLease(const VersionLease&) = delete;
  ~VersionLease();
  const Recipe& recipe() const { return *recipe_; }
  const std::shared_ptr<const Recipe>& shared() const { return recipe_; }

 private:
  CacheService* owner_;
  std::shared_ptr<const Recipe> recipe_;
};

class CacheService {
 public:
  static Result<std::unique_ptr<CacheService>> open(CacheOptions options, const Clock& clock,
                                                    Sleeper& sleeper);
  ~CacheService();

  // The version's recipe, from local records or (once, however many callers) from the upstream.
  Result<VersionLease> open_version(const std::string& name, const std::string& version);
  // The version's lease when its recipe is local; nullopt when it would need the upstream. Never
  // waits on the upstream (safe on a server loop). kInvalidArgument for a bad name or version.
  Result<std::optional<VersionLease>> find_version(const std::string& name, const std::string& version);
  // True when every chunk of the recipe is stored.
  bool complete(const Recipe& recipe) const;
  // Makes chunk `index` of the recipe local, fetching it (single-flight, retried) if needed.
  Status ensure_chunk(const Recipe& recipe, size_t index);
  // Queues fetches of every missing chunk; returns at once.
  void fill_in_background(const VersionLease& lease);
  // Fetches a whole version now (for POST /prefetch); returns when it is all local.
  Status prefetch(const std::string& name, const std::string& version);
  Status set_pinned(const std::string& name, const std::string& version, bool pinned);
  // A stored chunk by id (raw or zstd form); fetched from the upstream if a known version has it.
  Result<std::string> chunk_key_for(const std::string& id);
  // The store key of chunk `id` when it is stored (raw or zstd form); never waits on the upstream.
  std::optional<std::string> stored_chunk_key(const std::string& id);

  ChunkStore& store() { return *store_; }
  CacheCounters& counters() { return counters_; }
  // Whether the cache directory takes writes now (a probe file); a failure is logged on stderr
  // once per change and kept as the store's health until a write succeeds again.
  Status check_writable();
  // The last failure to write the cache directory, or ok.
  Status store_health() const;
  nlohmann::json stats_json();
  std::string metrics_text();

 private:
  friend class VersionLease;
  CacheService(CacheOptions options, const Clock& clock, std::unique_ptr<ChunkStore> store,
               std::unique_ptr<Upstream> upstream);
  Status load_records();
  Result<std::shared_ptr<const Recipe>> fetch_recipe(const std::string& name, const std::string& version);
  Status persist(const Recipe& r);
  void apply(const Eviction& e);  // with mu_ held
  void release(const std::string& name, const std::string& version);
  std::string record_path(const std::string& name, const std::string& version, std::string_view ext) const;

  CacheOptions options_;
  const Clock& clock_;
  std::unique_ptr<ChunkStore> store_;
  std::unique_ptr<Upstream> upstream_;
  // Records a write to the store that failed (or ok once one succeeds), logging each change.
  void note_store_write(const Status& s);

  mutable std::mutex health_mu_;
  Status store_error_;  // guarded by health_mu_
  mutable std::mutex mu_;
  VersionIndex index_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Recipe>> recipes_;
  SingleFlight<std::shared_ptr<const Recipe>> recipe_flight_;
  struct Unit {};
  SingleFlight<Unit> chunk_flight_;
  CacheCounters counters_;
  std::unique_ptr<WorkerPool> pool_;  // last: its threads stop before the rest goes
};

}  // namespace thaw::cache
