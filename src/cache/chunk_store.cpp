#include "cache/chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "bundle/shuffle.h"

namespace thaw::cache {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kZstdSuffix = ".zst";
constexpr std::string_view kShuffledSuffix = ".zss";
constexpr std::string_view kTempSuffix = ".tmp";

Status errno_error(std::string_view what, const std::string& path) {
  return make_error(Code::kIo, "{} {}: {}", what, path, std::strerror(errno));
}

Status fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("opening directory", dir);
  if (::fsync(fd.get()) != 0) return errno_error("fsync of directory", dir);
  return Status::ok();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

std::string chunk_id_of(std::span<const std::byte> bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

bool is_chunk_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string chunk_key(std::string_view id, ChunkEncoding encoding) {
  switch (encoding) {
    case ChunkEncoding::kZstd: return fmt::format("{}{}", id, kZstdSuffix);
    case ChunkEncoding::kZstdShuffled: return fmt::format("{}{}", id, kShuffledSuffix);
    default: return std::string(id);
  }
}

Status verify_chunk(std::string_view id, ChunkEncoding encoding, uint64_t length,
                    std::span<const std::byte> stored) {
  if (!is_chunk_id(id)) return make_error(Code::kInvalidArgument, "'{}' is not a chunk id", id);
  if (encoding == ChunkEncoding::kRaw) {
    if (stored.size() != length)
      return make_error(Code::kCorrupt, "chunk {}: {} bytes, expected {}", id, stored.size(), length);
    std::string got = chunk_id_of(stored);
    if (got != id) return make_error(Code::kCorrupt, "chunk {}: bytes hash to {}", id, got);
    return Status::ok();
  }
  unsigned long long frame = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (frame == ZSTD_CONTENTSIZE_ERROR || (frame != ZSTD_CONTENTSIZE_UNKNOWN && frame != length))
    return make_error(Code::kCorrupt, "chunk {}: not a zstd frame of {} bytes", id, length);
  std::string out(length, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != length)
    return make_error(Code::kCorrupt, "chunk {}: zstd frame does not decode to {} bytes", id, length);
  if (encoding == ChunkEncoding::kZstdShuffled) {
    std::string plain(length, '\0');
    bundle::unshuffle_bytes(std::as_bytes(std::span(out)), std::as_writable_bytes(std::span(plain)));
    out.swap(plain);
  }
  std::string got = chunk_id_of(std::as_bytes(std::span(out)));
  if (got != id) return make_error(Code::kCorrupt, "chunk {}: decoded bytes hash to {}", id, got);
  return Status::ok();
}

Status write_file_atomic(const std::string& path, std::span<const std::byte> bytes,
                         std::string_view temp_suffix) {
  std::string temp = fmt::format("{}.{}{}", path, temp_suffix, kTempSuffix);
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return errno_error("creating", temp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = errno_error("writing", temp);
      ::unlink(temp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    Status s = errno_error("fsync of", temp);
    ::unlink(temp.c_str());
    return s;
  }
  fd.reset();
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Status s = errno_error("renaming to", path);
    ::unlink(temp.c_str());
    return s;
  }
  return fsync_dir(fs::path(path).parent_path().string());
}

Result<std::string> read_whole_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return make_error(Code::kNotFound, "{} does not exist", path);
    return errno_error("opening", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat of", path);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading", path);
    if (n == 0) return make_error(Code::kCorrupt, "{} shrank while being read", path);
    done += static_cast<size_t>(n);
  }
  return out;
}

Result<std::unique_ptr<ChunkStore>> ChunkStore::open(std::string dir, bool verify) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(Code::kIo, "creating {}: {}", dir, ec.message());
  std::unique_ptr<ChunkStore> store(new ChunkStore(std::move(dir)));
  THAW_TRY(store->scan(verify));
  return store;
}

std::string ChunkStore::path_of(std::string_view key) const {
  return fmt::format("{}/{}/{}", dir_, key.substr(0, 2), key);
}

Status ChunkStore::scan(bool verify) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    const std::string path = it->path().string();
    if (ends_with(name, kTempSuffix)) {
      fs::remove(it->path(), ec);
      ++recovery_.temps_removed;
      continue;
    }
    std::string_view id = name;
    ChunkEncoding enc = ChunkEncoding::kRaw;
    if (ends_with(id, kZstdSuffix)) {
      id.remove_suffix(kZstdSuffix.size());
      enc = ChunkEncoding::kZstd;
    } else if (ends_with(id, kShuffledSuffix)) {
      id.remove_suffix(kShuffledSuffix.size());
      enc = ChunkEncoding::kZstdShuffled;
    }
    bool ok = is_chunk_id(id) && path == path_of(name);
    uint64_t size = it->file_size(ec);
    if (ok && verify) {
      auto bytes = read_whole_file(path);
      ok = bytes.is_ok();
      if (ok && enc == ChunkEncoding::kRaw) {
        ok = chunk_id_of(std::as_bytes(std::span(*bytes))) == id;
      } else if (ok) {
        unsigned long long n = ZSTD_getFrameContentSize(bytes->data(), bytes->size());
        ok = n != ZSTD_CONTENTSIZE_ERROR && n != ZSTD_CONTENTSIZE_UNKNOWN &&
             verify_chunk(id, enc, n, std::as_bytes(std::span(*bytes))).is_ok();
      }
    }
    if (!ok) {
      fs::remove(it->path(), ec);
      ++recovery_.corrupt_removed;
      continue;
    }
    sizes_[name] = size;
    total_bytes_ += size;
  }
  if (ec) return make_error(Code::kIo, "scanning {}: {}", dir_, ec.message());
  recovery_.chunks_kept = sizes_.size();
  recovery_.bytes_kept = total_bytes_;
  return Status::ok();
}

Status ChunkStore::put(std::string_view id, ChunkEncoding encoding, uint64_t length,
                       std::span<const std::byte> stored) {
  THAW_TRY(verify_chunk(id, encoding, length, stored));
  std::string key = chunk_key(id, encoding);
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    if (sizes_.count(key)) return Status::ok();
    seq = ++temp_seq_;
  }
  std::string path = path_of(key);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return make_error(Code::kIo, "creating {}: {}", path, ec.message());
  THAW_TRY(write_file_atomic(path, stored, fmt::format("{}-{}", ::getpid(), seq)));
  std::lock_guard lock(mu_);
  if (sizes_.emplace(key, stored.size()).second) total_bytes_ += stored.size();
  return Status::ok();
}

Status ChunkStore::check_writable() const {
  const std::string probe = fmt::format("{}/.probe-{}{}", dir_, ::getpid(), kTempSuffix);
  UniqueFd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno_error("creating a file in", dir_);
  fd.reset();
  ::unlink(probe.c_str());
  return Status::ok();
}

bool ChunkStore::contains(const std::string& key) const {
  std::lock_guard lock(mu_);
  return sizes_.count(key) != 0;
}

Result<uint64_t> ChunkStore::size(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = sizes_.find(key);
  if (it == sizes_.end()) return make_error(Code::kNotFound, "chunk {} is not cached", key);
  return it->second;
}

Result<UniqueFd> ChunkStore::open_read(const std::string& key) const {
  if (!contains(key)) return make_error(Code::kNotFound, "chunk {} is not cached", key);
  std::string path = path_of(key);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return make_error(Code::kNotFound, "chunk {} is not cached", key);
    return errno_error("opening", path);
  }
  return fd;
}

Result<std::string> ChunkStore::read(const std::string& key) const {
  if (!contains(key)) return make_error(Code::kNotFound, "chunk {} is not cached", key);
  return read_whole_file(path_of(key));
}

Status ChunkStore::remove(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    auto it = sizes_.find(key);
    if (it == sizes_.end()) return Status::ok();
    total_bytes_ -= it->second;
    sizes_.erase(it);
  }
  std::string path = path_of(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("removing", path);
  return Status::ok();
}

uint64_t ChunkStore::total_bytes() const {
  std::lock_guard lock(mu_);
  return total_bytes_;
}
uint64_t ChunkStore::count() const {
  std::lock_guard lock(mu_);
  return sizes_.size();
}
std::vector<std::string> ChunkStore::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(sizes_.size());
  for (const auto& [k, v] : sizes_) out.push_back(k);
  return out;
}

}  // namespace thaw::cache
