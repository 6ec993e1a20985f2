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
#include <mutex>
#include <thread>

#include <openssl/evp.h>

#include "bundle/hash.h"
#include "cache/chunk_store.h"
#include "cache/recipe.h"
#include "cache/recipe_reader.h"
#include "cache/retry.h"
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

Status write_error(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT)
    return make_error(Code::kNoSpace, "the model store's disk is full writing {} ({})", what, std::strerror(err));
  return make_error(Code::kIo, "cannot write {}: {}", what, std::strerror(err));
}

Status pwrite_all(int fd, std::span<const std::byte> bytes, uint64_t offset, const std::string& what) {
  uint64_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return write_error(what, errno);
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status pread_all(int fd, std::string& out, uint64_t offset, uint64_t length) {
  out.resize(length);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(Code::kIo, "short read");
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

// A source failure as the caller should report it.
Status source_error(const Status& s, const std::string& url) {
  switch (s.code()) {
    case Code::kNotFound: return make_error(Code::kUpstream, "source {} has no such bundle (404)", url);
    case Code::kCorrupt:
    case Code::kInvalidArgument:
    case Code::kUnsupported:
      return make_error(Code::kUpstream, "source {} sent a truncated or corrupt bundle: {}", url, s.message());
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kIo: return make_error(Code::kUnavailable, "source {} is unreachable: {}", url, s.message());
    default: return s.with_context(fmt::format("source {}", url));
  }
}

struct LocalChunk {
  std::string path;
  uint64_t offset = 0;
  uint64_t stored_length = 0;
};

// A raw chunk streams through the buffer in pieces of this size (hot in the core's cache between
// the socket, the hash and the file).
// (thaw serve's CPU up to its first answer, MiniLM from a thaw cache: 0.13-0.15 s at 128-256 KiB, 0.19 s at 512 KiB,
// 0.31 s a whole 4 MiB chunk at a time.)
constexpr uint64_t kStreamPiece = 256 << 10;

// A range of the source file holding one or more chunks to fetch (indices into recipe.chunks).
struct Run {
  uint64_t offset = 0, length = 0;
  std::vector<size_t> chunks;
};

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

  // 2. What local bundles already hold, by chunk key.
  std::map<std::string, LocalChunk> local;
  for (const std::string& lp : options.local) {
    if (lp == dest && !fs::exists(lp)) continue;
    auto lr = read_local_recipe(lp, "local", "copy");
    if (!lr.is_ok()) continue;  // not a bundle any more: nothing to reuse from it
    for (const RecipeChunk& c : lr->chunks) local.emplace(c.key(), LocalChunk{lp, c.file_offset, c.stored_length});
  }

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
  std::vector<size_t> to_fetch;
  for (size_t i = 0; i < rc.chunks.size(); ++i) {
    const RecipeChunk& c = rc.chunks[i];
    auto it = local.find(c.key());
    if (it != local.end() && it->second.stored_length == c.stored_length) {
      UniqueFd in(::open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC));
      std::string bytes;
      if (in.valid() && pread_all(in.get(), bytes, it->second.offset, c.stored_length).is_ok() &&
          verify_chunk(c.id, c.encoding, c.length, std::as_bytes(std::span(bytes))).is_ok()) {
        THAW_TRY(pwrite_all(file.fd(), std::as_bytes(std::span(bytes)), c.file_offset, what));
        report.reused_bytes += c.stored_length;
        ++report.chunks_reused;
        continue;
      }
    }
    to_fetch.push_back(i);
  }
  // Fetches the chunks `to_fetch` (indices into rc.chunks) from the source.
  auto fetch_chunks = [&](std::vector<size_t> to_fetch) -> Status {
    std::sort(to_fetch.begin(), to_fetch.end(),
              [&](size_t a, size_t b) { return rc.chunks[a].file_offset < rc.chunks[b].file_offset; });
    // Runs of adjacent chunks, one request each, sized so the requests in flight share the bytes.
    uint64_t fetch_total = 0;
    for (size_t i : to_fetch) fetch_total += rc.chunks[i].stored_length;
    const uint64_t per_request = std::clamp<uint64_t>(
        (fetch_total + options.parallel - 1) / std::max(1, options.parallel), uint64_t{4} << 20,
        std::max<uint64_t>(options.piece_bytes, 1));
    std::vector<Run> runs;
    for (size_t i : to_fetch) {
      const RecipeChunk& c = rc.chunks[i];
      if (!runs.empty()) {
        Run& r = runs.back();
        const uint64_t end = r.offset + r.length;
        // Adjacent chunks (or a small literal gap between them) share one request.
        if (c.file_offset >= end && c.file_offset - end <= (64 << 10) && r.length < per_request) {
          r.length = c.file_offset + c.stored_length - r.offset;
          r.chunks.push_back(i);
          continue;
        }
      }
      runs.push_back(Run{c.file_offset, c.stored_length, {i}});
    }

    std::atomic<size_t> next{0};
    std::mutex err_mu;
    Status failed;
    std::atomic<bool> stop{false};
    // Each worker streams its runs chunk by chunk through one buffer: a chunk is checked against its
    // id and written while the next one is still arriving (the socket's buffer holds it), so memory is
    // one chunk per request in flight, and no byte is copied more than into the buffer and the file.
    auto work = [&] {
      std::vector<std::byte> buf;
      for (size_t k; !stop.load() && (k = next.fetch_add(1)) < runs.size();) {
        const Run& run = runs[k];
        size_t done = 0;  // chunks of the run written (a retry resumes after them)
        Status write_failed;
        Backoff backoff = source.backoff();
        auto got = retry<int>(
            backoff, clock, source.sleeper(),
            [&](int) -> Result<int> {
              const uint64_t from = rc.chunks[run.chunks[done]].file_offset, end = run.offset + run.length;
              THAW_ASSIGN_OR_RETURN(std::unique_ptr<RangeStream> in, source.open_range_once(path, from, end - from));
              if (in->length() != end - from)
                return make_error(Code::kCorrupt, "{} bytes of {} at offset {}", in->length(), end - from, from);
              uint64_t pos = from;
              for (; done < run.chunks.size(); ++done) {
                if (stop.load()) return make_error(Code::kCancelled, "another part of the fetch failed");
                const RecipeChunk& c = rc.chunks[run.chunks[done]];
                if (c.file_offset > pos) THAW_TRY(in->skip(c.file_offset - pos));
                if (c.encoding == ChunkEncoding::kRaw) {
                  // In cache-sized pieces, each hashed and written while it is hot; the chunk's id
                  // is checked at its end (a chunk that fails is written again on the retry, and
                  // the file is renamed into place only once every chunk passed).
                  if (c.length != c.stored_length)
                    return make_error(Code::kCorrupt, "chunk {}: {} bytes stored for {}", c.id, c.stored_length, c.length);
                  if (buf.size() < kStreamPiece) buf.resize(kStreamPiece);
                  bundle::Xxh3Stream128 hash;
                  for (uint64_t off = 0; off < c.stored_length;) {
                    auto piece = std::span(buf).first(std::min<uint64_t>(kStreamPiece, c.stored_length - off));
                    THAW_TRY(in->read(piece));
                    hash.update(piece);
                    write_failed = pwrite_all(file.fd(), piece, c.file_offset + off, what);
                    // Not transient: ends the retries (reported below as it is).
                    if (!write_failed.is_ok()) return make_error(Code::kCancelled, "writing failed");
                    off += piece.size();
                  }
                  if (std::string got = hash.hex_digest(); got != c.id)
                    return make_error(Code::kCorrupt, "chunk {}: bytes hash to {}", c.id, got);
                } else {
                  // Compressed: decoded whole to be checked.
                  if (buf.size() < c.stored_length) buf.resize(c.stored_length);
                  auto piece = std::span(buf).first(c.stored_length);
                  THAW_TRY(in->read(piece));
                  THAW_TRY(verify_chunk(c.id, c.encoding, c.length, piece));
                  write_failed = pwrite_all(file.fd(), piece, c.file_offset, what);
                  if (!write_failed.is_ok()) return make_error(Code::kCancelled, "writing failed");
                }
                // Start writing it back now, so a later fsync waits only for the last pieces.
                (void)::sync_file_range(file.fd(), static_cast<off_t>(c.file_offset), static_cast<off_t>(c.stored_length),
                                        SYNC_FILE_RANGE_WRITE);
                pos = c.file_offset + c.stored_length;
              }
              return 0;
            },
            [&](const Status&) { source.count_retry(); });
        Status s = !write_failed.is_ok() ? write_failed : got.is_ok() ? Status::ok() : source_error(got.status(), url);
        if (!s.is_ok()) {
          std::lock_guard lock(err_mu);
          if (failed.is_ok()) failed = s;
          stop.store(true);
        }
      }
    };
    {
      std::vector<std::thread> threads;
      const int n = std::max(1, std::min<int>(options.parallel, static_cast<int>(runs.size())));
      for (int t = 1; t < n; ++t) threads.emplace_back(work);
      work();
      for (auto& t : threads) t.join();
    }
    return failed;
  };

  // Start while fetching: the chunks a start needs first, then the caller's callback, then the rest.
  std::vector<size_t> needed_first;
  if (options.first_ranges && options.on_first_phase) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    if (auto reader = bundle::Reader::open(file.path()); reader.is_ok()) ranges = options.first_ranges(reader->manifest());
    if (!ranges.empty()) {
      std::vector<size_t> rest;
      for (size_t i : to_fetch) {
        const RecipeChunk& c = rc.chunks[i];
        const bool needed = std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) {
          return r.second > 0 && r.first < c.file_offset + c.stored_length && c.file_offset < r.first + r.second;
        });
        (needed ? needed_first : rest).push_back(i);
      }
      to_fetch = std::move(rest);
      THAW_TRY(fetch_chunks(needed_first));
      for (size_t i : needed_first) report.first_phase_bytes += rc.chunks[i].stored_length;
      report.first_phase_seconds = to_seconds(clock.now() - t0);
      options.on_first_phase(file.path());
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
