#include "cli/serve_store.h"

#include <filesystem>

#include <spdlog/spdlog.h>

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

Result<std::unique_ptr<manager::ModelStore>> open_model_store(const manager::ServeConfig& config, const Clock& clock) {
  manager::StoreOptions so;
  so.dir = config.store_dir;
  so.budget_bytes = config.store_budget_bytes;
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
