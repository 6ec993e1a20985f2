#include "bundle/verified_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace thaw::bundle {

std::string VerifiedCache::default_dir() {
  if (const char* v = std::getenv("THAW_VERIFY_CACHE"); v != nullptr) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v != nullptr && *v != '\0') return std::string(v) + "/thaw/verified";
  if (const char* v = std::getenv("HOME"); v != nullptr && *v != '\0') return std::string(v) + "/.cache/thaw/verified";
  return "";
}

Result<std::string> VerifiedCache::key(const std::string& bundle_path) {
  struct stat st {};
  if (::stat(bundle_path.c_str(), &st) != 0)
    return make_error(errno == ENOENT ? Code::kNotFound : Code::kIo, "stat {}: {}", bundle_path, std::strerror(errno));
  return key(st);
}

std::string VerifiedCache::key(const struct stat& st) {
  return fmt::format("{:x}-{:x}-{}-{}.{:09}", static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                     static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
                     static_cast<int64_t>(st.st_mtim.tv_nsec));
}

void VerifiedCache::forget(const std::string& bundle_path) const {
  if (dir_.empty()) return;
  auto k = key(bundle_path);
  if (k.is_ok()) (void)::unlink((dir_ + "/" + *k).c_str());
}

bool VerifiedCache::verified(const std::string& bundle_path) const {
  if (dir_.empty()) return false;
  auto k = key(bundle_path);
  if (!k.is_ok()) return false;
  struct stat st {};
  return ::stat((dir_ + "/" + *k).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status VerifiedCache::mark(const std::string& key) const {
  if (dir_.empty()) return Status::ok();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error(Code::kIo, "creating {}: {}", dir_, ec.message());
  const std::string path = dir_ + "/" + key;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Code::kIo, "creating {}: {}", path, std::strerror(errno));
  ::close(fd);
  return Status::ok();
}

}  // namespace thaw::bundle
