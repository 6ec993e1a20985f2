// What `thaw serve` does for models fetched from a source (docs/registry.md): their bundle paths in
// the model store, the store itself, and the background work at start (probing each source for its
// bundle's size, so the registry rung is priced, and fetching the models marked `prefetch`).
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engine/registry.h"
#include "manager/manager.h"
#include "manager/model_store.h"
#include "manager/serve_config.h"

namespace thaw::cli {

// Points every model with a `source` at its copy in config.store_dir (NAME/VERSION.thaw) and
// takes its version from the source URL. kInvalidArgument names a bad source.
Status assign_store_paths(manager::ServeConfig& config);
bool has_sources(const manager::ServeConfig& config);

// Opens the store and registers every model with a source. `backends` (which must outlive the
// store) say what a start reads, for starting while fetching.
Result<std::unique_ptr<manager::ModelStore>> open_model_store(const manager::ServeConfig& config, const Clock& clock,
                                                              const engine::Registry& backends);

// What the manager calls to register a new version's source (Manager::publish_version).
std::function<Result<manager::ManagerOptions::SourceVersion>(const std::string&, const std::string&, const std::string&)>
source_registrar(manager::ModelStore& store, const manager::ServeConfig& config);

// SIGHUP: re-reads `config_path` and publishes every model's `source` there (a model whose source
// did not change is left as it is); results go to the log.
void reload_sources(const std::string& config_path, manager::Manager& manager);

// Probes and prefetches on a thread of its own; the destructor waits for the fetch in progress.
class StoreWarmup {
 public:
  StoreWarmup(manager::ModelStore& store, const manager::ServeConfig& config);
  ~StoreWarmup();
  StoreWarmup(const StoreWarmup&) = delete;
  StoreWarmup& operator=(const StoreWarmup&) = delete;

 private:
  std::thread thread_;
};

}  // namespace thaw::cli
