// Which bundle versions the cache keeps, and which it evicts. Pure bookkeeping on an injected
// Clock (no I/O): the caller applies the returned evictions to disk. Rules, in order:
//  - at most `max_versions_per_model` unpinned versions per model (least recently used goes first);
//  - at most `byte_budget` bytes in all (chunks counted once however many versions share them,
//    plus each version's head bytes); least recently used version goes first, across models;
//  - pinned versions and versions in use (leased) are never evicted.
// Not thread-safe: the owner serialises calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace thaw::cache {

struct IndexLimits {
  size_t max_versions_per_model = 3;
  uint64_t byte_budget = uint64_t{64} << 30;
};

struct VersionInfo {
  std::string name;
  std::string version;
  uint64_t head_bytes = 0;                           // non-chunk bytes of the bundle
  std::vector<std::pair<std::string, uint64_t>> chunks;  // store key, stored bytes (unique keys)
  Nanos last_use{0};
  bool pinned = false;
  int leases = 0;
};

struct Eviction {
  std::vector<std::pair<std::string, std::string>> versions;  // (name, version) dropped
  std::vector<std::string> chunks;  // store keys no version references any more
};

class VersionIndex {
 public:
  VersionIndex(const Clock& clock, IndexLimits limits) : clock_(clock), limits_(limits) {}

  // Adds (or replaces) a version, marked used now. Duplicate chunk keys are counted once.
  void add(std::string name, std::string version, uint64_t head_bytes,
           const std::vector<std::pair<std::string, uint64_t>>& chunks);
  bool contains(const std::string& name, const std::string& version) const;
  const VersionInfo* find(const std::string& name, const std::string& version) const;
  // Marks a version used now; false if unknown.
  bool touch(const std::string& name, const std::string& version);
  // kNotFound for an unknown version.
  Status set_pinned(const std::string& name, const std::string& version, bool pinned);
  // A lease keeps a version from eviction while it is being fetched or served.
  bool acquire(const std::string& name, const std::string& version);
  void release(const std::string& name, const std::string& version);
  // Drops a version now (pinned or not, unless leased); returns chunks left unreferenced.
  Eviction remove(const std::string& name, const std::string& version);

  // Applies the limits; returns what must be deleted.
  Eviction evict();

  uint64_t bytes() const { return bytes_; }
  size_t size() const { return versions_.size(); }
  std::vector<const VersionInfo*> list() const;
  // How many versions reference a chunk key (0 if none).
  int references(const std::string& key) const;

 private:
  using Key = std::pair<std::string, std::string>;
  void drop(std::map<Key, VersionInfo>::iterator it, Eviction* out);

  const Clock& clock_;
  IndexLimits limits_;
  std::map<Key, VersionInfo> versions_;
  struct ChunkRef {
    uint64_t bytes = 0;
    int refs = 0;
  };
  std::unordered_map<std::string, ChunkRef> chunks_;
  uint64_t bytes_ = 0;
};

}  // namespace thaw::cache
