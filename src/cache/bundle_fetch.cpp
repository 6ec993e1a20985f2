#include "cache/bundle_fetch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include <openssl/evp.h>

#include "cache/chunk_runs.h"
#include "cache/chunk_store.h"
#include "cache/fetch_io.h"
#include "cache/recipe.h"
#include "cache/recipe_reader.h"
#include "common/unique_fd.h"

namespace thaw::cache {

namespace fs = std::filesystem;

Result<SourceUrl> parse_source_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return make_error(Code::kInvalidArgument, "source '{}': {}; expected http://HOST:PORT/models/NAME/VERSION", url, why);
  };
  if (!url.starts_with("http://")) return bad("only http:// sources are supported");
  const size_t slash = url.find('/', 7);
  if (slash == std::string_view::npos || slash == 7) return bad("no host or no path");
  SourceUrl out;
  out.base = std::string(url.substr(0, slash));
  out.path = std::string(url.substr(slash));
  if (out.path.find_first_of("?# \t\r\n") != std::string::npos || out.path.find("/../") != std::string::npos)
    return bad("the path must be a plain path");
  std::string_view last = std::string_view(out.path).substr(out.path.rfind('/') + 1);
  if (last.ends_with(".thaw")) last.remove_suffix(5);
  if (!is_safe_name(last)) return bad("the last path segment (the version) must be 1-128 of [A-Za-z0-9._-]");
  out.version = std::string(last);
  return out;
}

Result<std::string> parse_sha256(std::string_view text) {
  if (text.starts_with("sha256:")) text.remove_prefix(7);
  std::string hex;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      hex.clear();
      break;
    }
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 64) return make_error(Code::kInvalidArgument, "'{}' is not a SHA-256 (sha256:<64 hex digits>)", text);
  return hex;
}

Result<std::string> sha256_of_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return make_error(Code::kIo, "cannot open {}: {}", path, std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return make_error(Code::kInternal, "SHA-256 is not available");
  std::vector<char> buf(4 << 20);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Code::kIo, "cannot read {}: {}", path, std::strerror(errno));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

namespace {

// The temp file a fetch writes: removed unless committed.
class TempFile {
 public:
  TempFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  ~TempFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  void committed() { committed_ = true; }

 private:
  std::string path_;
  UniqueFd fd_;
  bool committed_ = false;
};

struct LocalChunk {
  std::string path;
  uint64_t offset = 0;
  uint64_t stored_length = 0;
};
using LocalChunks = std::map<std::string, LocalChunk>;  // by chunk key

// What the local bundles `paths` hold, by chunk key (`dest` counts only if it exists already).
LocalChunks index_local_chunks(const std::vector<std::string>& paths, const std::string& dest) {
  LocalChunks local;
  for (const std::string& lp : paths) {
    if (lp == dest && !fs::exists(lp)) continue;
    auto lr = read_local_recipe(lp, "local", "copy");
    if (!lr.is_ok()) continue;  // not a bundle any more: nothing to reuse from it
    for (const RecipeChunk& c : lr->chunks) local.emplace(c.key(), LocalChunk{lp, c.file_offset, c.stored_length});
  }
  return local;
}

// Copies the chunks a local bundle holds (and that still verify there) into the file; returns the
// indices of the rest, to fetch.
Result<std::vector<size_t>> copy_local_chunks(const Recipe& rc, const LocalChunks& local, int fd,
                                              const std::string& what, BundleFetchReport& report) {
  std::vector<size_t> to_fetch;
  for (size_t i = 0; i < rc.chunks.size(); ++i) {
    const RecipeChunk& c = rc.chunks[i];
    auto it = local.find(c.key());
    if (it != local.end() && it->second.stored_length == c.stored_length) {
      UniqueFd in(::open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC));
      std::string bytes;
      if (in.valid() && pread_all(in.get(), bytes, it->second.offset, c.stored_length).is_ok() &&
          verify_chunk(c.id, c.encoding, c.length, std::as_bytes(std::span(bytes))).is_ok()) {
        THAW_TRY(pwrite_all(fd, std::as_bytes(std::span(bytes)), c.file_offset, what));
        report.reused_bytes += c.stored_length;
        ++report.chunks_reused;
        continue;
      }
    }
    to_fetch.push_back(i);
  }
  return to_fetch;
}

// Moves the chunks of `chunks` that overlap any of `ranges` (offset, length) out into the result.
std::vector<size_t> take_chunks_in(const Recipe& rc, std::vector<size_t>& chunks,
                                   const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  std::vector<size_t> taken, rest;
  for (size_t i : chunks) {
    const RecipeChunk& c = rc.chunks[i];
    const bool needed = std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) {
      return r.second > 0 && r.first < c.file_offset + c.stored_length && c.file_offset < r.first + r.second;
    });
    (needed ? taken : rest).push_back(i);
  }
  chunks = std::move(rest);
  return taken;
}

}  // namespace

Result<BundleFetchReport> fetch_bundle(Upstream& source, const std::string& path, const std::string& dest,
                                       const BundleFetchOptions& options) {
  const Clock& clock = source.clock();
  const Nanos t0 = clock.now();
  std::string base = source.describe();  // "http http://host:port"
  const std::string url = base.substr(base.find(' ') + 1) + path;
  BundleFetchReport report;
  const uint64_t requests0 = source.stats().requests.load();
  const uint64_t bytes0 = source.stats().bytes.load();

  // 1. The recipe: header, manifest and literal bytes.
  bool first = true;
  auto recipe = read_recipe("source", "fetch",
                            [&](uint64_t off, uint64_t len) {
                              auto r = source.read(path, off, len);
                              if (first) report.head_seconds = to_seconds(clock.now() - t0);
                              first = false;
                              return r;
                            },
                            options.head_probe_bytes, url);
  if (!recipe.is_ok()) return source_error(recipe.status(), url);
  const Recipe& rc = *recipe;
  report.file_bytes = rc.file_size;
  report.chunks = rc.chunks.size();

  // 2. What local bundles already hold.
  const LocalChunks local = index_local_chunks(options.local, dest);

  if (options.reserve) THAW_TRY(options.reserve(rc.file_size));

  // 3. The temp file, with all its space reserved (a full disk fails here, before any download).
  const fs::path dir = fs::path(dest).parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  static std::atomic<uint64_t> seq{0};
  const std::string tmp = fmt::format("{}.{}-{}.tmp", dest, ::getpid(), seq.fetch_add(1));
  UniqueFd fd(::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
  if (!fd.valid()) return write_error(fs::path(dest).filename().string(), errno);
  TempFile file(tmp, std::move(fd));
  if (rc.file_size > 0) {
    int err = ::posix_fallocate(file.fd(), 0, static_cast<off_t>(rc.file_size));
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) return write_error(fs::path(dest).filename().string(), err);
  }
  const std::string what = fs::path(dest).filename().string();
  for (const Extent& e : rc.extents) {
    if (e.chunk >= 0) continue;
    THAW_TRY(pwrite_all(file.fd(), std::as_bytes(std::span(rc.literal).subspan(e.literal_offset, e.length)), e.offset, what));
  }

  // 4. Chunks: copied from a local bundle when one holds them (and they still verify), else fetched.
  THAW_ASSIGN_OR_RETURN(std::vector<size_t> to_fetch, copy_local_chunks(rc, local, file.fd(), what, report));
  // Fetches the chunks `chunks` (indices into rc.chunks) from the source.
  const ChunkRunTarget target{source, path, url, file.fd(), what};
  auto fetch_chunks = [&](std::vector<size_t> chunks) -> Status {
    return fetch_chunk_runs(target, rc, plan_chunk_runs(rc, std::move(chunks), options.parallel, options.piece_bytes),
                            options.parallel);
  };

  // Start while fetching: the chunks a start needs first, then the caller's callback, then the rest.
  if (options.first_ranges && options.on_first_phase) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    if (auto reader = bundle::Reader::open(file.path()); reader.is_ok()) ranges = options.first_ranges(reader->manifest());
    if (!ranges.empty()) {
      const std::vector<size_t> needed_first = take_chunks_in(rc, to_fetch, ranges);
      THAW_TRY(fetch_chunks(needed_first));
      for (size_t i : needed_first) report.first_phase_bytes += rc.chunks[i].stored_length;
      const Nanos t1 = clock.now();
      report.first_phase_seconds = to_seconds(t1 - t0);
      options.on_first_phase(file.path());
      report.first_phase_wait_seconds = to_seconds(clock.now() - t1);
    }
  }
  THAW_TRY(fetch_chunks(std::move(to_fetch)));

  // 5. Checked, then visible (durable first unless the caller syncs later).
  if (options.durable && ::fsync(file.fd()) != 0) return write_error(what, errno);
  if (!options.sha256.empty()) {
    THAW_ASSIGN_OR_RETURN(std::string got, sha256_of_file(file.path()));
    if (got != options.sha256)
      return make_error(Code::kUpstream, "source {}: the bundle's SHA-256 is {}, not the expected {}", url, got,
                        options.sha256);
  }
  if (::rename(file.path().c_str(), dest.c_str()) != 0) return write_error(what, errno);
  file.committed();
  if (options.durable) {
    UniqueFd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.valid()) ::fsync(d.get());
  }
  report.requests = source.stats().requests.load() - requests0;
  report.fetched_bytes = source.stats().bytes.load() - bytes0;
  report.seconds = to_seconds(clock.now() - t0);
  return report;
}

Status sync_file_and_dir(const std::string& path) {
  const std::string what = fs::path(path).filename().string();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return make_error(Code::kIo, "opening {} to sync it: {}", path, std::strerror(errno));
  if (::fsync(fd.get()) != 0) return write_error(what, errno);
  const fs::path dir = fs::path(path).parent_path();
  UniqueFd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid() || ::fsync(d.get()) != 0) return make_error(Code::kIo, "syncing the directory of {}: {}", path, std::strerror(errno));
  return Status::ok();
}

}  // namespace thaw::cache
