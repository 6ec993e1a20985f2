#include "manager/model_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bundle/verified_cache.h"
#include "cache/recipe.h"

namespace thaw::manager {

namespace fs = std::filesystem;

StoreLease::~StoreLease() {
  if (store_) store_->release(path_);
}

ModelStore::ModelStore(StoreOptions options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      index_(clock, cache::IndexLimits{size_t{1} << 30, options_.budget_bytes > 0 ? options_.budget_bytes : UINT64_MAX}),
      sync_(std::make_unique<BackgroundSync>(
          [this](const std::string& copy, const std::string& identity, const Status& status) {
            if (!status.is_ok()) {
              spdlog::warn("model store: syncing {} failed: {} (it is verified again at the next start)", copy,
                           status.to_string());
              return;
            }
            std::lock_guard lock(mu_);
            auto it = entries_.find(copy);
            // Evicted or replaced meanwhile: nothing to vouch for.
            if (identity.empty() || it == entries_.end() || !it->second.present) return;
            Status s = record_durable(copy, identity);
            if (s.is_ok())
              it->second.durable = true;
            else
              spdlog::warn("model store: {} (it is verified again at the next start)", s.to_string());
          })) {}

namespace {
std::string path_in(const std::string& dir, const std::string& name, const std::string& version) {
  return (fs::path(dir) / name / (version + ".thaw")).string();
}
}  // namespace

Result<std::unique_ptr<ModelStore>> ModelStore::open(StoreOptions options, const Clock& clock) {
  if (options.dir.empty()) return make_error(Code::kInvalidArgument, "the model store needs a directory (server.store_dir)");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return make_error(Code::kIo, "cannot create the model store {}: {}", options.dir, ec.message());
  std::unique_ptr<ModelStore> s(new ModelStore(std::move(options), clock));
  // Copies from an earlier run count against the budget; a temp file is an interrupted fetch.
  for (const auto& model_dir : fs::directory_iterator(s->options_.dir, ec)) {
    if (!model_dir.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(model_dir.path(), ec)) {
      const std::string file = f.path().filename().string();
      if (file.ends_with(".tmp")) {  // also a marker's temp file
        spdlog::info("model store: removing {} (a fetch that did not finish)", f.path().string());
        fs::remove(f.path(), ec);
        continue;
      }
      if (!f.is_regular_file() || f.path().extension() != ".thaw") continue;
      const std::string name = model_dir.path().filename().string(), version = f.path().stem().string();
      if (!cache::is_safe_name(name) || !cache::is_safe_name(version)) continue;
      if (!recover_copy(f.path().string(), s->options_.verify_cache_dir)) continue;
      s->index_.add(name, version, 0, {{f.path().string(), static_cast<uint64_t>(f.file_size(ec))}});
    }
  }
  return s;
}

Result<std::string> ModelStore::add(const StoredModel& model) {
  THAW_ASSIGN_OR_RETURN(cache::SourceUrl url, cache::parse_source_url(model.source));
  if (!cache::is_safe_name(model.name) || !cache::is_safe_name(model.version))
    return make_error(Code::kInvalidArgument, "model '{}' version '{}': use 1-128 of [A-Za-z0-9._-]", model.name,
                      model.version);
  Entry e;
  e.model = model;
  if (!model.sha256.empty()) {
    THAW_ASSIGN_OR_RETURN(e.model.sha256, cache::parse_sha256(model.sha256));
  }
  e.path = path_in(options_.dir, model.name, model.version);
  e.url_path = url.path;
  e.base = url.base;
  std::error_code ec;
  e.present = fs::is_regular_file(e.path, ec);
  e.durable = e.present && recorded_durable(e.path);
  std::lock_guard lock(mu_);
  if (e.present) {
    e.size = static_cast<uint64_t>(fs::file_size(e.path, ec));
    if (!index_.contains(model.name, model.version)) index_.add(model.name, model.version, 0, {{e.path, e.size}});
    if (model.pinned) (void)index_.set_pinned(model.name, model.version, true);
  }
  auto [it, fresh] = entries_.try_emplace(e.path, e);
  if (!fresh) {  // the same version again (a reload): keep what was learned, take the new settings
    it->second.model = e.model;
    it->second.url_path = e.url_path;
    it->second.base = e.base;
  }
  return e.path;
}

bool ModelStore::knows(const std::string& path) const {
  std::lock_guard lock(mu_);
  return entries_.count(path) > 0;
}

bool ModelStore::present(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(path);
  return it != entries_.end() && it->second.present;
}

uint64_t ModelStore::size_of(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(path);
  return it == entries_.end() ? 0 : it->second.size;
}

uint64_t ModelStore::bytes() const {
  std::lock_guard lock(mu_);
  return index_.bytes();
}

Result<cache::Upstream*> ModelStore::source_for(const std::string& base) {
  std::lock_guard lock(mu_);
  auto& slot = sources_[base];
  if (!slot) {
    cache::UpstreamOptions uo;
    uo.url = base;
    uo.kind = cache::UpstreamKind::kExactPath;
    uo.timeout = options_.timeout;
    uo.retry.deadline = std::chrono::seconds(20);
    auto made = cache::Upstream::create(uo, clock_, sleeper_);
    if (!made.is_ok()) {
      sources_.erase(base);
      return made.status();
    }
    slot = std::move(made).value();
  }
  return slot.get();
}

Status ModelStore::probe(const std::string& path) {
  std::string base, url_path;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end()) return make_error(Code::kNotFound, "no model stored at {}", path);
    if (it->second.size > 0) return Status::ok();
    base = it->second.base;
    url_path = it->second.url_path;
  }
  THAW_ASSIGN_OR_RETURN(cache::Upstream * source, source_for(base));
  auto r = source->read_once(url_path, 0, 1);
  if (!r.is_ok()) return r.status().with_context(fmt::format("source {}{}", base, url_path));
  std::lock_guard lock(mu_);
  entries_[path].size = r->total_size;
  return Status::ok();
}

double ModelStore::fetch_cost_ms(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(path);
  if (it == entries_.end() || it->second.present) return 0.0;
  const double bw = bandwidth_mb_s_ > 0 ? bandwidth_mb_s_ : options_.default_bandwidth_mb_s;
  const double lat = latency_ms_ > 0 ? latency_ms_ : options_.default_latency_ms;
  // A model whose last fetch started an instance on its first phase will again: a start waits for
  // that phase, not for the whole bundle.
  uint64_t bytes = it->second.size;
  if (const auto& last = it->second.last_fetch; last && last->first_phase_bytes > 0 && options_.start_while_fetching)
    bytes = std::min(bytes, last->first_phase_bytes);
  return lat + static_cast<double>(bytes) / (bw * 1e6) * 1000.0;
}

Result<std::shared_ptr<StoreLease>> ModelStore::ensure(const std::string& path,
                                                       const std::function<void(const std::string&)>& on_first_phase) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(path);
      if (it == entries_.end()) return make_error(Code::kNotFound, "no model stored at {}", path);
      Entry& e = it->second;
      if (e.present && index_.acquire(e.model.name, e.model.version)) {
        index_.touch(e.model.name, e.model.version);
        ++e.leases;
        return std::make_shared<StoreLease>(this, path);
      }
    }
    auto r = flight_.run(path, options_.wait_timeout, [&]() -> Result<int> {
      THAW_TRY(fetch(path, on_first_phase));
      return 0;
    });
    if (!r.is_ok()) return r.status();
    // Fetched: take the lease above (a budget squeeze may have taken it again: fetch once more).
  }
  return make_error(Code::kNoSpace, "the model store's budget keeps evicting {} before it can start", path);
}

Status ModelStore::fetch(const std::string& path, const std::function<void(const std::string&)>& on_first_phase) {
  StoredModel model;
  std::string base, url_path;
  cache::BundleFetchOptions fo;
  fo.parallel = options_.parallel;
  {
    std::lock_guard lock(mu_);
    const Entry& e = entries_.at(path);
    if (e.present) return Status::ok();
    model = e.model;
    base = e.base;
    url_path = e.url_path;
    fo.sha256 = e.model.sha256;
    // Chunks an earlier copy of the same model shares are copied, not fetched.
    for (const cache::VersionInfo* v : index_.list())
      if (v->name == model.name) fo.local.push_back(path_in(options_.dir, v->name, v->version));
    // Hold the older copies while they are read.
    for (const cache::VersionInfo* v : index_.list())
      if (v->name == model.name) index_.acquire(v->name, v->version);
  }
  auto release_local = [&] {
    std::lock_guard lock(mu_);
    for (const std::string& p : fo.local) {
      const fs::path fp(p);
      index_.release(fp.parent_path().filename().string(), fp.stem().string());
    }
  };
  auto source = source_for(base);
  if (!source.is_ok()) {
    release_local();
    return source.status();
  }
  spdlog::info("model store: fetching {} version {} from {}{}", model.name, model.version, base, url_path);
  // The budget makes room for the bundle before its download (held until the copy is indexed).
  uint64_t reserved = 0;
  fo.reserve = [&](uint64_t file_bytes) -> Status {
    std::vector<std::string> trash;
    Status s;
    {
      std::lock_guard lock(mu_);
      reserved_ -= reserved;  // a retried fetch reserves again
      reserved = 0;
      s = reserve_locked(model, file_bytes, &trash);
      if (s.is_ok()) reserved = file_bytes;
    }
    remove_files(trash);
    return s;
  };
  // Start while fetching: only a whole-file hash, checked at the end, would vouch for more than the
  // chunk ids the first phase checked, so a model with sha256 waits for it.
  bool first_phase_called = false;
  if (on_first_phase && options_.start_while_fetching && options_.start_ranges && fo.sha256.empty()) {
    fo.first_ranges = options_.start_ranges;
    fo.on_first_phase = [&](const std::string& temp) {
      first_phase_called = true;
      spdlog::info("model store: {} version {}: what a start reads has arrived; starting while the rest is fetched",
                   model.name, model.version);
      on_first_phase(temp);
    };
  }
  // Not waiting for the disk: the copy is synced and recorded durable in the background (below).
  fo.durable = false;
  forget_durable(path);
  Result<cache::BundleFetchReport> r = cache::fetch_bundle(**source, url_path, path, fo);
  // A full disk: make room from copies nobody uses, least recently used first, and try again.
  // (Not once a start began on the first attempt's temp file: that start fails with this error.)
  for (int tries = 0; !r.is_ok() && r.status().code() == Code::kNoSpace && !first_phase_called && tries < 8;
       ++tries) {
    std::vector<std::string> victims;
    {
      std::lock_guard lock(mu_);
      victims = evictions_locked(true);
    }
    if (victims.empty()) break;  // (a budget that cannot make room ends here too)
    remove_files(victims);
    r = cache::fetch_bundle(**source, url_path, path, fo);
  }
  release_local();
  if (r.is_ok()) {
    // Every chunk was checked against its content id as it arrived, and the chunks hold every byte
    // of the bundle's data: the workers' verify-on-first-start need not hash it all again. (A crash
    // before the copy is recorded durable drops this marker at the next open: recover_copy.)
    if (auto id = copy_identity(path); id.is_ok()) {
      Status marked = bundle::VerifiedCache(options_.verify_cache_dir).mark(*id);
      if (!marked.is_ok()) spdlog::warn("model store: {} (its first start verifies it)", marked.to_string());
    }
  }
  std::vector<std::string> victims;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_.at(path);
    reserved_ -= reserved;  // the copy's bytes count in the index from here (or nowhere: failed)
    ++e.fetches;
    if (!r.is_ok()) {
      ++e.failures;
      e.last_error = r.status().to_string();
      spdlog::error("model store: fetching {} version {} failed: {}", model.name, model.version, e.last_error);
      return r.status().with_context(fmt::format("model '{}' version {}", model.name, model.version));
    }
    e.present = true;
    e.durable = false;
    e.size = r->file_bytes;
    if (auto id = copy_identity(path); id.is_ok()) sync_->submit(path, *id);
    e.last_fetch = *r;
    e.last_error.clear();
    index_.add(model.name, model.version, 0, {{path, r->file_bytes}});
    if (model.pinned) (void)index_.set_pinned(model.name, model.version, true);
    // The source's speed, for pricing the next fetch (a fetch mostly from local chunks says little).
    // (Not counting the wait for a start begun on the first phase: no byte moved then.)
    const double moving = r->seconds - r->head_seconds - r->first_phase_wait_seconds;
    if (r->fetched_bytes >= (4u << 20) && moving > 0) {
      const double bw = static_cast<double>(r->fetched_bytes) / 1e6 / moving;
      bandwidth_mb_s_ = bandwidth_mb_s_ > 0 ? 0.5 * bandwidth_mb_s_ + 0.5 * bw : bw;
    }
    const double lat = 1000.0 * r->head_seconds;
    latency_ms_ = latency_ms_ > 0 ? 0.5 * latency_ms_ + 0.5 * lat : lat;
    spdlog::info("model store: {} version {}: {:.1f} MB in {:.2f} s ({:.1f} MB fetched in {} requests, {:.1f} MB "
                 "from local copies)",
                 model.name, model.version, r->file_bytes / 1e6, r->seconds, r->fetched_bytes / 1e6, r->requests,
                 r->reused_bytes / 1e6);
    // Held while the caller takes its lease, so the budget below cannot take this copy first.
    index_.acquire(model.name, model.version);
    victims = evictions_locked(false);
  }
  remove_files(victims);
  {
    std::lock_guard lock(mu_);
    index_.release(model.name, model.version);
  }
  return Status::ok();
}

std::vector<std::string> ModelStore::evictions_locked(bool all_unused) {
  std::vector<std::string> out;
  std::vector<std::pair<std::string, std::string>> dropped;
  if (all_unused) {
    // The least recently used copy nobody holds.
    const cache::VersionInfo* oldest = nullptr;
    for (const cache::VersionInfo* v : index_.list())
      if (!v->pinned && v->leases == 0 && (!oldest || v->last_use < oldest->last_use)) oldest = v;
    if (oldest) {
      dropped.emplace_back(oldest->name, oldest->version);
      (void)index_.remove(oldest->name, oldest->version);
    }
  } else {
    dropped = index_.evict().versions;
  }
  static std::atomic<uint64_t> seq{0};
  for (const auto& [name, version] : dropped) {
    const std::string p = path_in(options_.dir, name, version);
    // Aside under the lock: a fetch of this version may rename its new copy to `p` as soon as the
    // lock is released, and the deletion below must not take that one. A ".tmp" name: a crash
    // before the deletion leaves a file the next open() removes.
    forget_durable(p);  // first: a marker never outlives its copy
    const std::string trash = fmt::format("{}.evicted-{}-{}.tmp", p, ::getpid(), seq.fetch_add(1));
    if (::rename(p.c_str(), trash.c_str()) == 0)
      out.push_back(trash);
    else if (errno != ENOENT)
      spdlog::warn("model store: cannot move the evicted copy {} aside: {}", p, std::strerror(errno));
    if (auto it = entries_.find(p); it != entries_.end()) {
      it->second.present = false;
      ++it->second.evictions;
    }
    spdlog::info("model store: evicting the local copy of {} version {} (budget {} MiB): it falls to the registry rung",
                 name, version, options_.budget_bytes >> 20);
  }
  return out;
}

Status ModelStore::reserve_locked(const StoredModel& model, uint64_t bytes, std::vector<std::string>* trash) {
  const uint64_t budget = options_.budget_bytes;
  auto mib = [](uint64_t b) { return static_cast<double>(b) / (1 << 20); };
  if (budget > 0 && bytes > budget)
    return make_error(Code::kNoSpace,
                      "model '{}' version {} ({:.1f} MiB) does not fit in the model store's budget (store.budget_mb: "
                      "{:.0f} MiB): raise the budget",
                      model.name, model.version, mib(bytes), mib(budget));
  while (budget > 0 && index_.bytes() + reserved_ + bytes > budget) {
    const uint64_t before = index_.bytes();
    std::vector<std::string> moved = evictions_locked(true);
    trash->insert(trash->end(), moved.begin(), moved.end());
    if (index_.bytes() == before) {
      return make_error(Code::kNoSpace,
                        "the model store's budget (store.budget_mb: {:.0f} MiB) cannot hold model '{}' version {} "
                        "({:.1f} MiB) beside the copies pinned, in use or being fetched ({:.1f} MiB): raise the "
                        "budget, or unpin or stop a model",
                        mib(budget), model.name, model.version, mib(bytes), mib(index_.bytes() + reserved_));
    }
  }
  reserved_ += bytes;
  return Status::ok();
}

void ModelStore::remove_files(const std::vector<std::string>& trash) {
  std::error_code ec;
  for (const std::string& t : trash) {
    if (options_.on_evicted) options_.on_evicted(t.substr(0, t.rfind(".evicted-")));
    fs::remove(t, ec);
  }
}

bool ModelStore::durable(const std::string& path) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(path);
  return it != entries_.end() && it->second.present && it->second.durable;
}

void ModelStore::wait_durable() { sync_->wait_idle(); }

void ModelStore::enforce_budget() {
  std::vector<std::string> victims;
  {
    std::lock_guard lock(mu_);
    victims = evictions_locked(false);
  }
  remove_files(victims);
}

void ModelStore::release(const std::string& path) {
  std::vector<std::string> victims;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(path);
    if (it == entries_.end()) return;
    --it->second.leases;
    index_.release(it->second.model.name, it->second.model.version);
    victims = evictions_locked(false);  // a copy over the budget waits for its last user
  }
  remove_files(victims);
}

nlohmann::json ModelStore::describe() const {
  std::lock_guard lock(mu_);
  nlohmann::json models = nlohmann::json::array();
  for (const auto& [path, e] : entries_) {
    nlohmann::json j = {{"name", e.model.name}, {"version", e.model.version}, {"source", e.model.source},
                        {"present", e.present}, {"durable", e.durable}, {"bytes", e.size}, {"pinned", e.model.pinned},
                        {"in_use", e.leases}, {"fetches", e.fetches}, {"failures", e.failures},
                        {"evictions", e.evictions}};
    if (!e.model.sha256.empty()) j["sha256"] = e.model.sha256;
    if (!e.last_error.empty()) j["last_error"] = e.last_error;
    if (e.last_fetch)
      j["last_fetch"] = {{"seconds", e.last_fetch->seconds}, {"fetched_bytes", e.last_fetch->fetched_bytes},
                         {"reused_bytes", e.last_fetch->reused_bytes}, {"requests", e.last_fetch->requests},
                         {"chunks", e.last_fetch->chunks}, {"chunks_reused", e.last_fetch->chunks_reused},
                         {"first_phase_seconds", e.last_fetch->first_phase_seconds},
                         {"first_phase_bytes", e.last_fetch->first_phase_bytes},
                         {"first_phase_wait_seconds", e.last_fetch->first_phase_wait_seconds}};
    models.push_back(std::move(j));
  }
  return {{"dir", options_.dir},
          {"bytes", index_.bytes()},
          {"reserved_bytes", reserved_},
          {"budget_bytes", options_.budget_bytes},
          {"bandwidth_mb_s", bandwidth_mb_s_ > 0 ? bandwidth_mb_s_ : options_.default_bandwidth_mb_s},
          {"latency_ms", latency_ms_ > 0 ? latency_ms_ : options_.default_latency_ms},
          {"measured", bandwidth_mb_s_ > 0},
          {"models", std::move(models)}};
}

}  // namespace thaw::manager
