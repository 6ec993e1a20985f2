// A launcher in front of another that brings a model's bundle from its source first: the
// registry rung. For a bundle of the model store (thaw.yaml `source:`), a start fetches it into the
// store when it is absent (on the launcher's own threads, one fetch however many starts), then asks
// the inner launcher; the instance or zygote it gets holds a store lease, so the budget never
// deletes a copy a process runs from. Everything else passes straight through.
//
// A failed fetch fails the start with the fetch's error (502/503/507 at the client, naming the
// cause); the next start fetches again.
//
// Start while fetching: a fresh instance (not forked, no --verify in its flags) of a bundle being
// fetched starts on the arriving copy as soon as what it reads has arrived (ModelStore::ensure's
// on_first_phase), with the worker's own verify off, and is reported once ready, maybe before the
// fetch ends. The rest of the fetch waits (bounded) until that start has ended, so the two do not
// share the cores and the disk. If the rest of the fetch fails, the instance is killed (a start not yet reported
// fails with the fetch's error); nothing partial stays in the store.
#pragma once

#include <memory>

#include "cache/worker_pool.h"
#include "manager/launcher.h"
#include "manager/model_store.h"

namespace thaw::manager {

class FetchingLauncher final : public Launcher {
 public:
  // `store` must outlive this launcher and every handle it returns.
  FetchingLauncher(std::unique_ptr<Launcher> inner, ModelStore& store, int threads = 4);
  ~FetchingLauncher() override;

  void start_instance(const StartSpec& spec, std::shared_ptr<ZygoteHandle> zygote, InstanceDone done) override;
  void start_zygote(const StartSpec& spec, ZygoteDone done) override;
  void stop(std::shared_ptr<WorkerHandle> worker, std::chrono::milliseconds grace, Done done) override;
  void kill(std::shared_ptr<WorkerHandle> worker) override;
  void stop_zygote(std::shared_ptr<ZygoteHandle> zygote, std::chrono::milliseconds grace, Done done) override;
  void ping(std::shared_ptr<WorkerHandle> worker, Done done) override;
  // kRegistry for a store bundle with no local copy; else the inner launcher's answer.
  policy::Rung storage_rung(const std::string& bundle) override;
  // Warming an absent bundle fetches it first.
  void warm_page_cache(const std::string& bundle, Done done) override;
  void evict(const std::string& bundle, Done done) override;
  uint64_t cached_bytes(const std::string& bundle) override;
  double fetch_cost_ms(const std::string& bundle) override;
  void drain(std::chrono::milliseconds limit) override;

  Launcher& inner() { return *inner_; }

  struct EarlyStart;  // a start while fetching (docs/registry.md)

 private:
  void early_instance_ready(const std::shared_ptr<EarlyStart>& early, Result<std::shared_ptr<WorkerHandle>> r);
  void early_fetch_done(const std::shared_ptr<EarlyStart>& early, Result<std::shared_ptr<StoreLease>> lease);

  std::unique_ptr<Launcher> inner_;
  ModelStore& store_;
  cache::WorkerPool pool_;  // fetches (and the starts they lead to); last, so it stops first
};

}  // namespace thaw::manager
