#include "manager/store_durability.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "bundle/bundle.h"
#include "bundle/verified_cache.h"
#include "cache/bundle_fetch.h"

namespace thaw::manager {

namespace fs = std::filesystem;

std::string durable_marker_path(const std::string& copy) { return copy + ".durable"; }

Result<std::string> copy_identity(const std::string& copy) { return bundle::VerifiedCache::key(copy); }

bool recorded_durable(const std::string& copy) {
  auto id = copy_identity(copy);
  if (!id.is_ok()) return false;
  std::ifstream in(durable_marker_path(copy));
  std::string recorded;
  return in && std::getline(in, recorded) && recorded == *id;
}

Status record_durable(const std::string& copy, const std::string& identity) {
  // Written beside, then renamed: a torn marker never matches. Not fsynced: a marker lost in a crash
  // only costs a verify at the next open.
  const std::string marker = durable_marker_path(copy), tmp = marker + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << identity << "\n";
    if (!out.flush()) return make_error(Code::kIo, "writing {}: {}", tmp, std::strerror(errno));
  }
  if (::rename(tmp.c_str(), marker.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return make_error(Code::kIo, "renaming {}: {}", tmp, std::strerror(err));
  }
  return Status::ok();
}

void forget_durable(const std::string& copy) { (void)::unlink(durable_marker_path(copy).c_str()); }

bool recover_copy(const std::string& copy, const std::string& verify_cache_dir) {
  if (recorded_durable(copy)) return true;
  // Its bytes may not all have reached the disk: nothing vouches for them until checked again.
  bundle::VerifiedCache(verify_cache_dir).forget(copy);
  forget_durable(copy);
  spdlog::info("model store: {} was not recorded durable (a crash before its sync?): verifying it in full", copy);
  Status s = [&]() -> Status {
    THAW_ASSIGN_OR_RETURN(bundle::Reader reader, bundle::Reader::open(copy));
    THAW_TRY(reader.verify());
    THAW_TRY(cache::sync_file_and_dir(copy));
    THAW_ASSIGN_OR_RETURN(std::string id, copy_identity(copy));
    return record_durable(copy, id);
  }();
  if (s.is_ok()) return true;
  spdlog::warn("model store: removing {}: {} (the next request fetches it again)", copy, s.to_string());
  std::error_code ec;
  fs::remove(copy, ec);
  return false;
}

BackgroundSync::BackgroundSync(Done done) : done_(std::move(done)), thread_([this] { run(); }) {}

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundSync::submit(const std::string& copy, const std::string& identity) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(copy, identity);
  }
  cv_.notify_all();
}

void BackgroundSync::wait_idle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void BackgroundSync::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued is done
    auto [copy, identity] = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    // Synced through a descriptor whose identity is checked: a copy replaced or deleted meanwhile
    // is not recorded.
    Status status;
    std::string synced;
    const int fd = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && bundle::VerifiedCache::key(st) == identity) {
      status = cache::sync_file_and_dir(copy);
      // Read once: the copy may be evicted (renamed aside) at any moment, also between two reads.
      if (auto now = copy_identity(copy); status.is_ok() && now.is_ok() && *now == identity) synced = identity;
    }
    if (fd >= 0) ::close(fd);
    done_(copy, synced, status);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace thaw::manager
