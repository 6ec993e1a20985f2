#include "loader/loader.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/phase_timer.h"
#include "common/unique_fd.h"
#include "loader/decompress.h"
#include "loader/pages.h"
#include "loader/parallel.h"
#include "loader/read_io.h"

namespace thaw::loader {

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::kAuto: return "auto";
    case Mode::kMmap: return "mmap";
    case Mode::kRead: return "read";
    case Mode::kZstd: return "zstd";
  }
  return "?";
}

std::optional<Mode> mode_from_name(std::string_view name) {
  for (Mode m : {Mode::kAuto, Mode::kMmap, Mode::kRead, Mode::kZstd})
    if (mode_name(m) == name) return m;
  return std::nullopt;
}

Nanos LoadTimings::phase(std::string_view name) const {
  for (const auto& [n, d] : phases)
    if (n == name) return d;
  return Nanos{0};
}

nlohmann::json LoadTimings::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, d] : phases) j[name + "_ms"] = to_ms(d);
  j["total_ms"] = to_ms(total);
  if (!worker_time.empty()) {
    nlohmann::json w = nlohmann::json::object();
    for (const auto& [name, d] : worker_time) w[name] = to_ms(d);
    j["worker_time_ms"] = w;
  }
  return j;
}

namespace {

Result<std::span<const std::byte>> slice(std::span<const std::byte> data, uint64_t offset, uint64_t length,
                                         std::string_view what, std::string_view name) {
  if (offset > data.size() || length > data.size() - offset)
    return make_error(Code::kCorrupt, "{} '{}' [{}, +{}) lies outside the {} loaded bytes", what, name, offset,
                      length, data.size());
  return data.subspan(offset, length);
}

}  // namespace

Result<std::span<const std::byte>> LoadedBundle::tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  if (it == tensor_index_.end()) return make_error(Code::kNotFound, "no tensor named '{}'", name);
  const auto& t = manifest_.tensors[it->second];
  return slice(data(), t.offset, t.length, "tensor", t.name);
}

Result<std::span<const std::byte>> LoadedBundle::file(std::string_view name) const {
  auto it = file_index_.find(std::string(name));
  if (it == file_index_.end()) return make_error(Code::kNotFound, "no file named '{}'", name);
  const auto& f = manifest_.files[it->second];
  return slice(data(), f.offset, f.length, "file", f.name);
}

Status LoadedBundle::fault_in_file(std::string_view name) const {
  auto it = file_index_.find(std::string(name));
  if (it == file_index_.end()) return make_error(Code::kNotFound, "no file named '{}'", name);
  const auto& f = manifest_.files[it->second];
  (void)memory_.advise_range(f.offset, f.length, MADV_WILLNEED, "MADV_WILLNEED");
  if (memory_.advise_range(f.offset, f.length, MADV_POPULATE_READ, "MADV_POPULATE_READ").is_ok())
    return Status::ok();
  THAW_ASSIGN_OR_RETURN(auto bytes, file(name));
  volatile std::byte sink{};
  for (size_t i = 0; i < bytes.size(); i += kPageSize) sink = bytes[i];
  (void)sink;
  return Status::ok();
}

// Runs one load, phase by phase, filling a LoadedBundle.
class LoadSession {
 public:
  LoadSession(const LoadOptions& options, const Clock& clock) : options_(options), clock_(clock), timer_(clock) {}

  PhaseTimer& timer() { return timer_; }

  Result<LoadedBundle> run(const bundle::Reader& reader) {
    const bundle::Manifest& m = reader.manifest();
    if (reader.fd() < 0)
      return make_error(Code::kUnsupported, "the loader needs a bundle opened from a file");
    if (options_.threads < 1) return make_error(Code::kInvalidArgument, "threads must be >= 1, got {}", options_.threads);
    const bool compressed = m.compression != bundle::Compression::kNone;
    Mode mode = options_.mode;
    if (mode == Mode::kAuto) mode = compressed ? Mode::kZstd : Mode::kMmap;
    if (compressed && mode != Mode::kZstd)
      return make_error(Code::kInvalidArgument, "bundle {} is zstd-compressed; load it with mode zstd or auto",
                        reader.path());
    if (!compressed && mode == Mode::kZstd)
      return make_error(Code::kInvalidArgument, "bundle {} is not compressed; load it with mode mmap, read or auto",
                        reader.path());
    if (!compressed && (m.data_offset > reader.file_size() || m.data_length > reader.file_size() - m.data_offset))
      return make_error(Code::kCorrupt, "data section [{}, +{}) is past the end of the {}-byte file", m.data_offset,
                        m.data_length, reader.file_size());

    LoadedBundle out;
    out.mode_ = mode;
    out.threads_ = options_.threads;
    out.manifest_ = m;
    out.source_path_ = reader.path();
    for (size_t i = 0; i < m.tensors.size(); ++i) out.tensor_index_.emplace(m.tensors[i].name, i);
    for (size_t i = 0; i < m.files.size(); ++i) out.file_index_.emplace(m.files[i].name, i);
    timer_.mark("index");

    switch (mode) {
      case Mode::kMmap: THAW_TRY(load_mmap(reader, out)); break;
      case Mode::kRead: THAW_TRY(load_read(reader, out)); break;
      case Mode::kZstd: THAW_TRY(load_zstd(reader, out)); break;
      case Mode::kAuto: return make_error(Code::kInternal, "mode auto was not resolved");
    }
    if (options_.mlock) {
      THAW_TRY(out.memory_.lock());
      timer_.mark("mlock");
    }
    if (options_.touch) {
      touch_sink_ += touch_pages(out.data(), options_.threads);
      timer_.mark("touch");
    }
    if (options_.verify) {
      THAW_TRY(verify_checksums(out.manifest_, out.data(), options_.threads).with_context(reader.path()));
      timer_.mark("verify");
    }
    out.timings_.phases = timer_.phases();
    out.timings_.worker_time = worker_time_;
    out.timings_.total = timer_.total();
    return out;
  }

 private:
  Status load_mmap(const bundle::Reader& reader, LoadedBundle& out) {
    const bundle::Manifest& m = reader.manifest();
    THAW_ASSIGN_OR_RETURN(out.memory_, Mapping::map_file(reader.fd(), m.data_offset, m.data_length, false));
    if (options_.hugepages) (void)out.memory_.advise(MADV_HUGEPAGE, "MADV_HUGEPAGE");  // best effort on files
    // Readahead of the whole range first, so a cold populate waits on large reads, not 128 KiB ones.
    if (options_.willneed) THAW_TRY(out.memory_.advise(MADV_WILLNEED, "MADV_WILLNEED"));
    if (options_.populate) {
      // Split over the workers: from cold storage each waits on its own reads (about 2x faster than
      // one populate here); from the page cache it is as fast as one.
      constexpr uint64_t kPiece = 32 << 20;
      const Mapping& mem = out.memory_;
      const uint64_t pieces = (mem.size() + kPiece - 1) / kPiece;
      std::atomic<uint64_t> next{0};
      Status s = parallel_for(options_.threads, [&](int) -> Status {
        for (uint64_t p = next.fetch_add(1); p < pieces; p = next.fetch_add(1)) {
          Status r = mem.advise_range(p * kPiece, kPiece, MADV_POPULATE_READ, "MADV_POPULATE_READ");
          if (!r.is_ok()) return r;
        }
        return Status::ok();
      });
      // Kernels before 5.14 lack it; the touch pass faults the pages in instead.
      if (!s.is_ok() && s.code() != Code::kUnsupported) return s;
    }
    timer_.mark("map");
    return Status::ok();
  }

  Status load_read(const bundle::Reader& reader, LoadedBundle& out) {
    const bundle::Manifest& m = reader.manifest();
    THAW_ASSIGN_OR_RETURN(out.memory_, Mapping::allocate(m.data_length, options_.hugepages));
    timer_.mark("alloc");
    std::span<std::byte> dest = out.memory_.writable();
    if (options_.direct) {
      out.direct_ = true;
      THAW_TRY(read_direct(reader, dest, out).with_context(reader.path()));
    } else if (options_.io_uring) {
      out.io_uring_ = true;
      THAW_TRY(read_io_uring(reader.fd(), m.data_offset, dest, options_.read_block,
                             static_cast<unsigned>(2 * options_.threads))
                   .with_context(reader.path()));
    } else {
      if (options_.willneed) {
        ::posix_fadvise(reader.fd(), static_cast<off_t>(m.data_offset), static_cast<off_t>(m.data_length),
                        POSIX_FADV_SEQUENTIAL);
        // From cold storage, start readahead of the whole range at once (as mmap mode does): about
        // 2x faster for 2 GB here than the readers' own readahead. Skipped when cached (a page walk).
        if (looks_uncached(reader.fd(), m.data_offset, m.data_length))
          ::posix_fadvise(reader.fd(), static_cast<off_t>(m.data_offset), static_cast<off_t>(m.data_length),
                          POSIX_FADV_WILLNEED);
      }
      THAW_TRY(pread_parallel(reader.fd(), m.data_offset, dest, options_.threads, options_.read_block)
                   .with_context(reader.path()));
    }
    timer_.mark("read");
    return Status::ok();
  }

  // O_DIRECT for the whole 4 KiB blocks (data_offset is page-aligned), the page cache for a tail.
  Status read_direct(const bundle::Reader& reader, std::span<std::byte> dest, LoadedBundle& out) {
    const bundle::Manifest& m = reader.manifest();
    if (m.data_offset % kPageSize != 0)
      return make_error(Code::kUnsupported, "O_DIRECT needs a page-aligned data section, offset is {}", m.data_offset);
    UniqueFd fd(::open(reader.path().c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
    if (!fd.valid()) return make_error(Code::kIo, "open with O_DIRECT: {}", std::strerror(errno));
    const uint64_t block = std::max<uint64_t>(kPageSize, options_.read_block & ~uint64_t{kPageSize - 1});
    const uint64_t aligned = dest.size() & ~uint64_t{kPageSize - 1};
    Status s = read_io_uring(fd.get(), m.data_offset, dest.first(aligned), block,
                             std::max<unsigned>(4, static_cast<unsigned>(2 * options_.threads)));
    if (!s.is_ok() && s.message().find("io_uring_queue_init") != std::string::npos) {
      s = pread_parallel(fd.get(), m.data_offset, dest.first(aligned), options_.threads, block);
    } else {
      out.io_uring_ = true;
    }
    THAW_TRY(s);
    if (aligned < dest.size())
      THAW_TRY(pread_full(reader.fd(), m.data_offset + aligned, dest.subspan(aligned)));
    return Status::ok();
  }

  Status load_zstd(const bundle::Reader& reader, LoadedBundle& out) {
    const bundle::Manifest& m = reader.manifest();
    THAW_ASSIGN_OR_RETURN(out.memory_, Mapping::allocate(m.data_length, options_.hugepages));
    timer_.mark("alloc");
    if (options_.willneed && !m.chunks.empty()) {
      const uint64_t first = m.chunks.front().file_offset;
      const uint64_t stored = m.chunks.back().file_offset + m.chunks.back().stored_length - first;
      if (looks_uncached(reader.fd(), first, stored))
        ::posix_fadvise(reader.fd(), static_cast<off_t>(first), static_cast<off_t>(stored), POSIX_FADV_WILLNEED);
    }
    DecompressStats stats;
    THAW_TRY(decompress_chunks(reader.fd(), m, out.memory_.writable(), options_.threads, clock_, &stats)
                 .with_context(reader.path()));
    timer_.mark("decompress");
    worker_time_.emplace_back("read", stats.read_time);
    worker_time_.emplace_back("decompress", stats.decompress_time);
    return Status::ok();
  }

  const LoadOptions& options_;
  const Clock& clock_;
  PhaseTimer timer_;
  std::vector<std::pair<std::string, Nanos>> worker_time_;
  uint64_t touch_sink_ = 0;
};

Result<LoadedBundle> load(const bundle::Reader& reader, const LoadOptions& options) {
  SteadyClock steady;
  const Clock& clock = options.clock != nullptr ? *options.clock : steady;
  LoadSession session(options, clock);
  return session.run(reader);
}

Result<LoadedBundle> load_file(const std::string& path, const LoadOptions& options) {
  SteadyClock steady;
  const Clock& clock = options.clock != nullptr ? *options.clock : steady;
  LoadSession session(options, clock);
  auto reader = bundle::Reader::open(path);
  if (!reader.is_ok()) return reader.status();
  session.timer().mark("open");
  return session.run(*reader);
}

}  // namespace thaw::loader
