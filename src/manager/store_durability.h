// When a model store's copy may be trusted after a crash. A fetch renames the copy into the store
// without waiting for the disk (its bytes were verified as they arrived and sit in the page cache),
// so the first request does not wait for an fsync of the whole file; a background thread then
// fsyncs the file and its directory, and only after that a marker beside the copy
// (DIR/NAME/VERSION.thaw.durable) records it as durable. The marker holds the copy's identity
// (device, inode, size, mtime: bundle::VerifiedCache::key), so it vouches for that file only.
//
// At the store's open, a copy without a matching marker may hold pages a crash never wrote (zeros
// under a complete-looking size): it is verified in full again (and recorded durable) or deleted,
// and the workers' verify-on-first-start marker for it is dropped first, so that marker never
// vouches for bytes the disk may not hold.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace thaw::manager {

// The marker's path for a copy.
std::string durable_marker_path(const std::string& copy);
// The copy's identity now (VerifiedCache::key); kNotFound/kIo when it cannot be stat'ed.
Result<std::string> copy_identity(const std::string& copy);
// Whether the marker records the copy as it is now.
bool recorded_durable(const std::string& copy);
// Writes the marker for `identity` (the copy's identity when it was synced).
Status record_durable(const std::string& copy, const std::string& identity);
// Removes the marker (before the copy goes).
void forget_durable(const std::string& copy);

// Recovery of one copy found at open: durable ones are kept as they are; others lose their worker
// verify marker (in `verify_cache_dir`), are verified in full, then synced and recorded durable, or
// deleted when they do not verify. Returns whether the copy may be used.
bool recover_copy(const std::string& copy, const std::string& verify_cache_dir);

// One thread that fsyncs copies (file, then directory) in order and reports each: `done(copy,
// identity, status)`, where identity is the copy's identity as synced ("" when it changed or went
// meanwhile: nothing to record). The destructor finishes what is queued.
class BackgroundSync {
 public:
  using Done = std::function<void(const std::string& copy, const std::string& identity, const Status& status)>;
  explicit BackgroundSync(Done done);
  ~BackgroundSync();
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;
  // Queues `copy`, as it was when `identity` was taken.
  void submit(const std::string& copy, const std::string& identity);
  // Waits until everything queued so far is synced and reported.
  void wait_idle();

 private:
  void run();
  Done done_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::pair<std::string, std::string>> queue_;
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace thaw::manager
