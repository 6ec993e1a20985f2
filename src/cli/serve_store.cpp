#include "cli/serve_store.h"

#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "bundle/verified_cache.h"
#include "cache/bundle_fetch.h"

namespace thaw::cli {

namespace fs = std::filesystem;

Status assign_store_paths(manager::ServeConfig& config) {
  for (auto& m : config.models) {
    if (m.source.empty()) continue;
    auto url = cache::parse_source_url(m.source);
    if (!url.is_ok()) return url.status().with_context(fmt::format("model '{}'", m.name));
    if (!m.sha256.empty()) {
      auto hex = cache::parse_sha256(m.sha256);
      if (!hex.is_ok()) return hex.status().with_context(fmt::format("model '{}' sha256", m.name));
    }
    m.version = url->version;
    m.bundle = (fs::path(config.store_dir) / m.name / (url->version + ".thaw")).string();
  }
  return Status::ok();
}

bool has_sources(const manager::ServeConfig& config) {
  for (const auto& m : config.models)
    if (!m.source.empty()) return true;
  return false;
}

Result<std::unique_ptr<manager::ModelStore>> open_model_store(const manager::ServeConfig& config, const Clock& clock,
                                                              const engine::Registry& backends) {
  manager::StoreOptions so;
  so.start_while_fetching = config.store_start_while_fetching;
  so.start_ranges = [&backends](const bundle::Manifest& m) { return backends.start_ranges(m); };
  so.dir = config.store_dir;
  so.budget_bytes = config.store_budget_bytes;
  so.verify_cache_dir = bundle::VerifiedCache::default_dir();  // where the workers' `thaw run` marks
  THAW_ASSIGN_OR_RETURN(std::unique_ptr<manager::ModelStore> store, manager::ModelStore::open(so, clock));
  for (const auto& m : config.models) {
    if (m.source.empty()) continue;
    THAW_ASSIGN_OR_RETURN(std::string path,
                          store->add({m.name, m.version, m.source, m.sha256, m.pinned}));
    if (path != m.bundle) return make_error(Code::kInternal, "model '{}': store path {} != {}", m.name, path, m.bundle);
  }
  store->enforce_budget();
  return store;
}

std::function<Result<manager::ManagerOptions::SourceVersion>(const std::string&, const std::string&, const std::string&)>
source_registrar(manager::ModelStore& store, const manager::ServeConfig& config) {
  std::map<std::string, bool> pinned;
  for (const auto& m : config.models) pinned[m.name] = m.pinned;
  return [&store, pinned](const std::string& model, const std::string& source,
                          const std::string& sha256) -> Result<manager::ManagerOptions::SourceVersion> {
    THAW_ASSIGN_OR_RETURN(cache::SourceUrl url, cache::parse_source_url(source));
    auto it = pinned.find(model);
    THAW_ASSIGN_OR_RETURN(std::string path,
                          store.add({model, url.version, source, sha256, it != pinned.end() && it->second}));
    return manager::ManagerOptions::SourceVersion{path, url.version};
  };
}

void reload_sources(const std::string& config_path, manager::Manager& manager) {
  auto c = manager::load_serve_config(config_path);
  if (!c.is_ok()) {
    spdlog::error("SIGHUP: {}; the models stay as they are", c.status().to_string());
    return;
  }
  for (const auto& m : c->models) {
    if (m.source.empty() || !manager.has_model(m.name)) continue;
    manager.publish_version(m.name, m.source, m.sha256, [name = m.name, source = m.source](Status s) {
      if (s.is_ok()) spdlog::info("SIGHUP: model '{}' serves {}", name, source);
      else spdlog::error("SIGHUP: model '{}': {}", name, s.to_string());
    });
  }
}

StoreWarmup::StoreWarmup(manager::ModelStore& store, const manager::ServeConfig& config) {
  std::vector<manager::ModelConfig> models;
  for (const auto& m : config.models)
    if (!m.source.empty()) models.push_back(m);
  if (models.empty()) return;
  thread_ = std::thread([&store, models] {
    for (const auto& m : models) {
      if (!m.prefetch || store.present(m.bundle)) continue;
      auto lease = store.ensure(m.bundle);
      if (!lease.is_ok()) spdlog::error("prefetch of model '{}': {}; its first request fetches it again", m.name,
                                        lease.status().to_string());
    }
    for (const auto& m : models) {
      if (store.present(m.bundle)) continue;
      Status s = store.probe(m.bundle);
      if (!s.is_ok()) spdlog::warn("model '{}': {}; requests for it will fail until the source answers", m.name,
                                   s.to_string());
    }
  });
}

StoreWarmup::~StoreWarmup() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace thaw::cli
