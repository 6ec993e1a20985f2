#include "cache/cache_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "cache/recipe_reader.h"
#include "http/prometheus.h"

namespace thaw::cache {

namespace fs = std::filesystem;

VersionLease::~VersionLease() {
  if (owner_ && recipe_) owner_->release(recipe_->name, recipe_->version);
}

CacheService::CacheService(CacheOptions options, const Clock& clock, std::unique_ptr<ChunkStore> store,
                           std::unique_ptr<Upstream> upstream)
    : options_(std::move(options)),
      clock_(clock),
      store_(std::move(store)),
      upstream_(std::move(upstream)),
      index_(clock, options_.limits),
      pool_(std::make_unique<WorkerPool>(options_.fetch_threads, 1 << 20)) {}

CacheService::~CacheService() { pool_.reset(); }

Result<std::unique_ptr<CacheService>> CacheService::open(CacheOptions options, const Clock& clock,
                                                         Sleeper& sleeper) {
  if (options.dir.empty()) return make_error(Code::kInvalidArgument, "the cache needs a directory");
  THAW_ASSIGN_OR_RETURN(auto store, ChunkStore::open(options.dir + "/chunks", options.verify_on_start));
  THAW_ASSIGN_OR_RETURN(auto upstream, Upstream::create(options.upstream, clock, sleeper));
  std::unique_ptr<CacheService> s(
      new CacheService(std::move(options), clock, std::move(store), std::move(upstream)));
  THAW_TRY(s->load_records());
  return s;
}

std::string CacheService::record_path(const std::string& name, const std::string& version,
                                      std::string_view ext) const {
  return fmt::format("{}/versions/{}/{}.{}", options_.dir, name, version, ext);
}

// Version records: <name>/<version>.head (literal bytes) then <name>/<version>.json, each written
// atomically; a .json without a matching .head is dropped, and so is anything unreadable.
Status CacheService::load_records() {
  std::error_code ec;
  fs::path root = fs::path(options_.dir) / "versions";
  fs::create_directories(root, ec);
  if (ec) return make_error(Code::kIo, "creating {}: {}", root.string(), ec.message());
  struct Loaded {
    fs::file_time_type mtime;
    std::shared_ptr<const Recipe> recipe;
  };
  std::vector<Loaded> loaded;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    fs::path p = it->path();
    if (p.extension() == ".tmp") {
      fs::remove(p, ec);
      continue;
    }
    if (p.extension() != ".json") continue;
    fs::path head = p;
    head.replace_extension(".head");
    auto json_text = read_whole_file(p.string());
    auto literal = read_whole_file(head.string());
    Result<Recipe> r = make_error(Code::kCorrupt, "unreadable");
    if (json_text.is_ok() && literal.is_ok()) {
      auto j = nlohmann::json::parse(*json_text, nullptr, false);
      if (!j.is_discarded()) r = Recipe::from_json(j, std::move(*literal));
    }
    if (!r.is_ok() || !is_safe_name(r->name) || !is_safe_name(r->version) ||
        p != fs::path(record_path(r->name, r->version, "json"))) {
      fs::remove(p, ec);
      fs::remove(head, ec);
      continue;
    }
    loaded.push_back({fs::last_write_time(p, ec), std::make_shared<const Recipe>(std::move(*r))});
  }
  std::sort(loaded.begin(), loaded.end(), [](const Loaded& a, const Loaded& b) { return a.mtime < b.mtime; });
  std::lock_guard lock(mu_);
  for (auto& l : loaded) {
    index_.add(l.recipe->name, l.recipe->version, l.recipe->literal.size(), l.recipe->chunk_keys());
    recipes_[{l.recipe->name, l.recipe->version}] = l.recipe;
  }
  // Chunks no recorded version uses are leftovers of an interrupted fetch or eviction.
  for (const auto& key : store_->keys())
    if (index_.references(key) == 0) (void)store_->remove(key);
  apply(index_.evict());
  return Status::ok();
}

Status CacheService::persist(const Recipe& r) {
  std::error_code ec;
  fs::create_directories(fs::path(record_path(r.name, r.version, "json")).parent_path(), ec);
  if (ec) return make_error(Code::kIo, "creating the record directory for {}: {}", r.name, ec.message());
  THAW_TRY(
      write_file_atomic(record_path(r.name, r.version, "head"), std::as_bytes(std::span(r.literal)), "w"));
  std::string j = r.to_json().dump();
  return write_file_atomic(record_path(r.name, r.version, "json"), std::as_bytes(std::span(j)), "w");
}

void CacheService::apply(const Eviction& e) {
  for (const auto& [name, version] : e.versions) {
    recipes_.erase({name, version});
    std::error_code ec;
    fs::remove(record_path(name, version, "json"), ec);
    fs::remove(record_path(name, version, "head"), ec);
    counters_.evicted_versions.fetch_add(1);
  }
  for (const auto& key : e.chunks) {
    auto size = store_->size(key);
    if (size.is_ok()) {
      counters_.evicted_bytes.fetch_add(*size);
      counters_.evicted_chunks.fetch_add(1);
    }
    (void)store_->remove(key);
  }
}

void CacheService::release(const std::string& name, const std::string& version) {
  std::lock_guard lock(mu_);
  index_.release(name, version);
  apply(index_.evict());
}

Result<std::shared_ptr<const Recipe>> CacheService::fetch_recipe(const std::string& name,
                                                                 const std::string& version) {
  const std::string path = upstream_->object_path(name, version);
  THAW_ASSIGN_OR_RETURN(
      Recipe r, read_recipe(name, version, [&](uint64_t off, uint64_t len) { return upstream_->read(path, off, len); },
                            options_.head_probe_bytes, fmt::format("{} from the upstream", path)));
  THAW_TRY(persist(r));
  return std::make_shared<const Recipe>(std::move(r));
}

Result<std::optional<VersionLease>> CacheService::find_version(const std::string& name,
                                                               const std::string& version) {
  if (!is_safe_name(name) || !is_safe_name(version))
    return make_error(Code::kInvalidArgument, "bad model name or version '{}/{}'", name, version);
  std::lock_guard lock(mu_);
  auto it = recipes_.find({name, version});
  if (it != recipes_.end() && index_.acquire(name, version))
    return std::optional<VersionLease>(std::in_place, this, it->second);
  return std::optional<VersionLease>();
}

Result<VersionLease> CacheService::open_version(const std::string& name, const std::string& version) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    THAW_ASSIGN_OR_RETURN(std::optional<VersionLease> local, find_version(name, version));
    if (local) return std::move(*local);
    auto r = recipe_flight_.run(fmt::format("{}/{}", name, version), options_.wait_timeout,
                                [&]() -> Result<std::shared_ptr<const Recipe>> {
                                  // Bytes that fail the bundle's own checks are re-read, like
                                  // a chunk that fails its hash; transport errors retry inside.
                                  Backoff backoff = upstream_->backoff();
                                  auto fetched = fetch_recipe(name, version);
                                  for (int attempt = 1;
                                       !fetched.is_ok() && fetched.status().code() == Code::kCorrupt &&
                                       attempt < backoff.policy().max_attempts;
                                       ++attempt) {
                                    upstream_->count_retry();
                                    upstream_->sleeper().sleep_for(backoff.delay(attempt));
                                    fetched = fetch_recipe(name, version);
                                  }
                                  THAW_ASSIGN_OR_RETURN(auto recipe, std::move(fetched));
                                  std::lock_guard lock(mu_);
                                  recipes_[{name, version}] = recipe;
                                  index_.add(name, version, recipe->literal.size(), recipe->chunk_keys());
                                  return recipe;
                                });
    if (!r.is_ok()) return r.status();
  }
  return make_error(Code::kResourceExhausted,
                    "{}/{} was evicted as soon as it was fetched: the byte budget is too small", name,
                    version);
}

bool CacheService::complete(const Recipe& recipe) const {
  for (const auto& c : recipe.chunks)
    if (!store_->contains(c.key())) return false;
  return true;
}

Status CacheService::ensure_chunk(const Recipe& recipe, size_t index) {
  if (index >= recipe.chunks.size()) return make_error(Code::kInternal, "chunk index {} out of range", index);
  const RecipeChunk& c = recipe.chunks[index];
  const std::string key = c.key();
  if (store_->contains(key)) return Status::ok();
  auto r = chunk_flight_.run(key, options_.wait_timeout, [&]() -> Result<Unit> {
    if (store_->contains(key)) return Unit{};
    const std::string path = upstream_->object_path(recipe.name, recipe.version);
    Backoff backoff = upstream_->backoff();
    auto done = retry<Unit>(
        backoff, upstream_->clock(), upstream_->sleeper(),
        [&](int) -> Result<Unit> {
          THAW_ASSIGN_OR_RETURN(RangeBytes got, upstream_->read_once(path, c.file_offset, c.stored_length));
          Status s = store_->put(c.id, c.encoding, c.length, std::as_bytes(std::span(got.bytes)));
          if (s.code() == Code::kCorrupt) counters_.corrupt_chunks.fetch_add(1);
          if (s.code() == Code::kIo) {
            counters_.store_errors.fetch_add(1);
            note_store_write(s);
            // The disk, not the upstream: retrying the read would not help.
            return make_error(Code::kResourceExhausted, "the cache cannot store chunks: {}", s.message());
          }
          if (s.is_ok()) note_store_write(s);
          if (!s.is_ok()) return s;
          return Unit{};
        },
        [&](const Status&) { upstream_->count_retry(); });
    if (!done.is_ok()) {
      upstream_->count_failure();
      return done.status().with_context(fmt::format("chunk {} of {}/{}", c.id, recipe.name, recipe.version));
    }
    counters_.chunk_misses.fetch_add(1);
    return Unit{};
  });
  return r.status();
}

void CacheService::note_store_write(const Status& s) {
  std::lock_guard lock(health_mu_);
  if (s.is_ok() == store_error_.is_ok() && s.message() == store_error_.message()) return;
  if (!s.is_ok())
    fmt::print(stderr, "thaw cache: ERROR the cache directory {} takes no writes: {}; misses are refused with 503\n",
               options_.dir, s.message());
  else
    fmt::print(stderr, "thaw cache: the cache directory {} takes writes again\n", options_.dir);
  std::fflush(stderr);
  store_error_ = s;
}

Status CacheService::check_writable() {
  Status s = store_->check_writable();
  note_store_write(s);
  return s;
}

Status CacheService::store_health() const {
  std::lock_guard lock(health_mu_);
  return store_error_;
}

void CacheService::fill_in_background(const VersionLease& lease) {
  std::shared_ptr<const Recipe> recipe = lease.shared();
  {
    std::lock_guard lock(mu_);
    if (!index_.acquire(recipe->name, recipe->version)) return;
  }
  // One lease for the whole fill, released when the last queued fetch is done.
  auto fill_lease = std::make_shared<VersionLease>(this, recipe);
  for (size_t i = 0; i < recipe->chunks.size(); ++i) {
    if (store_->contains(recipe->chunks[i].key())) continue;
    if (!pool_->submit([this, fill_lease, i] { (void)ensure_chunk(fill_lease->recipe(), i); })) break;
  }
}

Status CacheService::prefetch(const std::string& name, const std::string& version) {
  counters_.prefetches.fetch_add(1);
  THAW_ASSIGN_OR_RETURN(VersionLease lease, open_version(name, version));
  fill_in_background(lease);
  for (size_t i = 0; i < lease.recipe().chunks.size(); ++i) THAW_TRY(ensure_chunk(lease.recipe(), i));
  return Status::ok();
}

Status CacheService::set_pinned(const std::string& name, const std::string& version, bool pinned) {
  std::lock_guard lock(mu_);
  THAW_TRY(index_.set_pinned(name, version, pinned));
  if (!pinned) apply(index_.evict());
  return Status::ok();
}

std::optional<std::string> CacheService::stored_chunk_key(const std::string& id) {
  for (ChunkEncoding enc : {ChunkEncoding::kRaw, ChunkEncoding::kZstd, ChunkEncoding::kZstdShuffled})
    if (std::string key = chunk_key(id, enc); store_->contains(key)) {
      counters_.chunk_hits.fetch_add(1);
      return key;
    }
  return std::nullopt;
}

Result<std::string> CacheService::chunk_key_for(const std::string& id) {
  if (!is_chunk_id(id)) return make_error(Code::kInvalidArgument, "'{}' is not a chunk id", id);
  if (auto key = stored_chunk_key(id)) return std::move(*key);
  std::shared_ptr<const Recipe> owner;
  size_t index = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, r] : recipes_) {
      for (size_t i = 0; i < r->chunks.size() && !owner; ++i)
        if (r->chunks[i].id == id) {
          owner = r;
          index = i;
        }
      if (owner) break;
    }
  }
  if (!owner) return make_error(Code::kNotFound, "no cached version has chunk {}", id);
  THAW_TRY(ensure_chunk(*owner, index));
  return owner->chunks[index].key();
}

nlohmann::json CacheService::stats_json() {
  nlohmann::json versions = nlohmann::json::array();
  uint64_t index_bytes = 0;
  {
    std::lock_guard lock(mu_);
    index_bytes = index_.bytes();
    for (const VersionInfo* v : index_.list()) {
      auto it = recipes_.find({v->name, v->version});
      bool done = it != recipes_.end() && complete(*it->second);
      versions.push_back({{"name", v->name},
                          {"version", v->version},
                          {"bytes", it != recipes_.end() ? it->second->file_size : 0},
                          {"chunks", it != recipes_.end() ? it->second->chunks.size() : 0},
                          {"complete", done},
                          {"pinned", v->pinned},
                          {"in_use", v->leases},
                          {"idle_seconds", to_seconds(clock_.now() - v->last_use)}});
    }
  }
  const UpstreamStats& u = upstream_->stats();
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& peer : upstream_->peers())
    peers.push_back({{"target", peer->describe()},
                     {"requests", peer->stats().requests.load()},
                     {"bytes", peer->stats().bytes.load()}});
  return {{"requests", counters_.requests.load()},
          {"hits", counters_.hits.load()},
          {"misses", counters_.misses.load()},
          {"chunk_hits", counters_.chunk_hits.load()},
          {"chunk_misses", counters_.chunk_misses.load()},
          {"bytes_served", counters_.bytes_served.load()},
          {"corrupt_chunks", counters_.corrupt_chunks.load()},
          {"store_errors", counters_.store_errors.load()},
          {"store_health", store_health().is_ok() ? "ok" : store_health().message()},
          {"prefetches", counters_.prefetches.load()},
          {"evictions",
           {{"versions", counters_.evicted_versions.load()},
            {"chunks", counters_.evicted_chunks.load()},
            {"bytes", counters_.evicted_bytes.load()}}},
          {"upstream",
           {{"target", upstream_->describe()},
            {"requests", u.requests.load()},
            {"bytes", u.bytes.load()},
            {"retries", u.retries.load()},
            {"failures", u.failures.load()}}},
          {"peers", peers},
          {"store",
           {{"chunks", store_->count()}, {"bytes", store_->total_bytes()}, {"accounted_bytes", index_bytes}}},
          {"limits",
           {{"max_versions_per_model", options_.limits.max_versions_per_model},
            {"byte_budget", options_.limits.byte_budget}}},
          {"recovery",
           {{"temps_removed", store_->recovery().temps_removed},
            {"corrupt_removed", store_->recovery().corrupt_removed}}},
          {"versions", std::move(versions)}};
}

std::string CacheService::metrics_text() {
  http::PrometheusText p;
  auto counter = [&](std::string_view name, std::string_view help, uint64_t v) {
    p.family(name, "counter", help);
    p.sample(name, {}, static_cast<double>(v));
  };
  auto gauge = [&](std::string_view name, std::string_view help, uint64_t v) {
    p.family(name, "gauge", help);
    p.sample(name, {}, static_cast<double>(v));
  };
  const UpstreamStats& u = upstream_->stats();
  counter("thaw_cache_requests_total", "Bundle requests.", counters_.requests.load());
  counter("thaw_cache_hits_total", "Bundle requests served entirely from local chunks.",
          counters_.hits.load());
  counter("thaw_cache_misses_total", "Bundle requests that needed the upstream.", counters_.misses.load());
  counter("thaw_cache_chunk_fetches_total", "Chunks fetched from the upstream.",
          counters_.chunk_misses.load());
  counter("thaw_cache_served_bytes_total", "Bytes sent to clients.", counters_.bytes_served.load());
  counter("thaw_cache_upstream_requests_total", "Requests sent to the upstream.", u.requests.load());
  uint64_t peer_requests = 0, peer_bytes = 0;
  for (const auto& peer : upstream_->peers()) {
    peer_requests += peer->stats().requests.load();
    peer_bytes += peer->stats().bytes.load();
  }
  counter("thaw_cache_peer_requests_total", "Requests sent to peer caches (--peer).", peer_requests);
  counter("thaw_cache_peer_bytes_total", "Bytes received from peer caches.", peer_bytes);
  counter("thaw_cache_upstream_bytes_total", "Bytes received from the upstream.", u.bytes.load());
  counter("thaw_cache_upstream_retries_total", "Upstream requests retried.", u.retries.load());
  counter("thaw_cache_upstream_failures_total", "Upstream reads that failed after retries.",
          u.failures.load());
  counter("thaw_cache_corrupt_chunks_total", "Upstream chunks that failed their hash.",
          counters_.corrupt_chunks.load());
  counter("thaw_cache_store_errors_total", "Chunks that could not be written to the cache directory.",
          counters_.store_errors.load());
  counter("thaw_cache_evictions_total", "Versions evicted.", counters_.evicted_versions.load());
  counter("thaw_cache_evicted_bytes_total", "Chunk bytes deleted by eviction.",
          counters_.evicted_bytes.load());
  gauge("thaw_cache_stored_bytes", "Chunk bytes on disk.", store_->total_bytes());
  gauge("thaw_cache_stored_chunks", "Chunks on disk.", store_->count());
  {
    std::lock_guard lock(mu_);
    gauge("thaw_cache_versions", "Versions known to the cache.", index_.size());
  }
  return p.text();
}

}  // namespace thaw::cache
