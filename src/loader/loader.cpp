#include "loader/loader.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <nlohmann/json.hpp>

#include "common/phase_timer.h"
#include "loader/decompress.h"
#include "loader/pages.h"
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
      Status s = out.memory_.advise(MADV_POPULATE_READ, "MADV_POPULATE_READ");
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
    if (options_.willneed)
      ::posix_fadvise(reader.fd(), static_cast<off_t>(m.data_offset), static_cast<off_t>(m.data_length),
                      POSIX_FADV_SEQUENTIAL);
    if (options_.io_uring) {
      out.io_uring_ = true;
      THAW_TRY(read_io_uring(reader.fd(), m.data_offset, out.memory_.writable(), options_.read_block,
                             static_cast<unsigned>(2 * options_.threads))
                   .with_context(reader.path()));
    } else {
      THAW_TRY(pread_parallel(reader.fd(), m.data_offset, out.memory_.writable(), options_.threads,
                              options_.read_block)
                   .with_context(reader.path()));
    }
    timer_.mark("read");
    return Status::ok();
  }

  Status load_zstd(const bundle::Reader& reader, LoadedBundle& out) {
    const bundle::Manifest& m = reader.manifest();
    THAW_ASSIGN_OR_RETURN(out.memory_, Mapping::allocate(m.data_length, options_.hugepages));
    timer_.mark("alloc");
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
