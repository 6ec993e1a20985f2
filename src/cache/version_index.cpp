#include "cache/version_index.h"

#include <algorithm>
#include <set>

namespace thaw::cache {

void VersionIndex::add(std::string name, std::string version, uint64_t head_bytes,
                       const std::vector<std::pair<std::string, uint64_t>>& chunks) {
  Key key{name, version};
  int leases = 0;
  bool pinned = false;
  if (auto it = versions_.find(key); it != versions_.end()) {
    leases = it->second.leases;
    pinned = it->second.pinned;
    it->second.leases = 0;
    Eviction ignored;
    drop(it, &ignored);
    // Chunks the replacement still uses are re-referenced below; the caller deletes none here.
  }
  VersionInfo info;
  info.name = std::move(name);
  info.version = std::move(version);
  info.head_bytes = head_bytes;
  info.last_use = clock_.now();
  info.pinned = pinned;
  info.leases = leases;
  std::set<std::string> seen;
  for (const auto& [k, size] : chunks) {
    if (!seen.insert(k).second) continue;
    info.chunks.emplace_back(k, size);
    ChunkRef& ref = chunks_[k];
    if (ref.refs++ == 0) {
      ref.bytes = size;
      bytes_ += size;
    }
  }
  bytes_ += head_bytes;
  versions_.emplace(std::move(key), std::move(info));
}

bool VersionIndex::contains(const std::string& name, const std::string& version) const {
  return versions_.count({name, version}) != 0;
}

const VersionInfo* VersionIndex::find(const std::string& name, const std::string& version) const {
  auto it = versions_.find({name, version});
  return it == versions_.end() ? nullptr : &it->second;
}

bool VersionIndex::touch(const std::string& name, const std::string& version) {
  auto it = versions_.find({name, version});
  if (it == versions_.end()) return false;
  it->second.last_use = clock_.now();
  return true;
}

Status VersionIndex::set_pinned(const std::string& name, const std::string& version, bool pinned) {
  auto it = versions_.find({name, version});
  if (it == versions_.end())
    return make_error(Code::kNotFound, "version {}/{} is not cached", name, version);
  it->second.pinned = pinned;
  return Status::ok();
}

bool VersionIndex::acquire(const std::string& name, const std::string& version) {
  auto it = versions_.find({name, version});
  if (it == versions_.end()) return false;
  ++it->second.leases;
  it->second.last_use = clock_.now();
  return true;
}

void VersionIndex::release(const std::string& name, const std::string& version) {
  auto it = versions_.find({name, version});
  if (it != versions_.end() && it->second.leases > 0) --it->second.leases;
}

void VersionIndex::drop(std::map<Key, VersionInfo>::iterator it, Eviction* out) {
  for (const auto& [k, size] : it->second.chunks) {
    auto c = chunks_.find(k);
    if (c == chunks_.end()) continue;
    if (--c->second.refs == 0) {
      bytes_ -= c->second.bytes;
      out->chunks.push_back(k);
      chunks_.erase(c);
    }
  }
  bytes_ -= it->second.head_bytes;
  out->versions.push_back(it->first);
  versions_.erase(it);
}

Eviction VersionIndex::remove(const std::string& name, const std::string& version) {
  Eviction out;
  auto it = versions_.find({name, version});
  if (it != versions_.end() && it->second.leases == 0) drop(it, &out);
  return out;
}

Eviction VersionIndex::evict() {
  Eviction out;
  auto evictable = [](const VersionInfo& v) { return !v.pinned && v.leases == 0; };
  // Per-model cap: count versions of each model, drop its least recently used while over.
  std::map<std::string, std::vector<Key>> by_model;
  for (const auto& [k, v] : versions_)
    if (!v.pinned) by_model[k.first].push_back(k);  // pinned versions do not count against N
  for (auto& [model, keys] : by_model) {
    std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
      return versions_.at(a).last_use < versions_.at(b).last_use;
    });
    size_t count = keys.size();
    for (const Key& k : keys) {
      if (count <= limits_.max_versions_per_model) break;
      auto it = versions_.find(k);
      if (!evictable(it->second)) continue;
      drop(it, &out);
      --count;
    }
  }
  // Byte budget, least recently used first across all models.
  while (bytes_ > limits_.byte_budget) {
    auto victim = versions_.end();
    for (auto it = versions_.begin(); it != versions_.end(); ++it)
      if (evictable(it->second) && (victim == versions_.end() || it->second.last_use < victim->second.last_use))
        victim = it;
    if (victim == versions_.end()) break;  // everything left is pinned or in use
    drop(victim, &out);
  }
  return out;
}

std::vector<const VersionInfo*> VersionIndex::list() const {
  std::vector<const VersionInfo*> out;
  for (const auto& [k, v] : versions_) out.push_back(&v);
  return out;
}

int VersionIndex::references(const std::string& key) const {
  auto it = chunks_.find(key);
  return it == chunks_.end() ? 0 : it->second.refs;
}

}  // namespace thaw::cache
