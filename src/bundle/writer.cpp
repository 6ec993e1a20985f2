#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include "bundle/bundle.h"
#include "bundle/format.h"
#include "bundle/hash.h"
#include "bundle/layout.h"
#include "bundle/manifest_codec.h"
#include "bundle/shuffle.h"
#include "common/usable_cores.h"

namespace thaw::bundle {

namespace {

constexpr std::array<std::byte, 4096> kZeros{};

// One tensor or file on its way into the data section.
struct Item {
  std::string label;
  std::span<const std::byte> data;
  uint64_t offset = 0;
};

Status write_all(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Code::kIo, "write: {}", std::strerror(errno));
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status::ok();
}

Status write_zeros(int fd, uint64_t count) {
  while (count > 0) {
    uint64_t n = std::min<uint64_t>(count, kZeros.size());
    THAW_TRY(write_all(fd, std::span(kZeros.data(), n)));
    count -= n;
  }
  return Status::ok();
}

// A temp file beside the target that is removed unless commit() renamed it into place.
class TempFile {
 public:
  static Result<TempFile> create(const std::string& target) {
    TempFile t;
    std::string templ = target + ".tmp.XXXXXX";
    t.fd_.reset(::mkstemp(templ.data()));
    if (!t.fd_.valid()) return make_error(Code::kIo, "create a temp file beside {}: {}", target, std::strerror(errno));
    t.path_ = templ;
    t.target_ = target;
    return t;
  }
  TempFile() = default;
  TempFile(TempFile&& o) noexcept
      : fd_(std::move(o.fd_)), path_(std::exchange(o.path_, {})), target_(std::exchange(o.target_, {})) {}
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_.get(); }

  Status commit() {
    if (::fchmod(fd_.get(), 0644) != 0) return make_error(Code::kIo, "chmod {}: {}", path_, std::strerror(errno));
    if (::fsync(fd_.get()) != 0) return make_error(Code::kIo, "fsync {}: {}", path_, std::strerror(errno));
    fd_.reset();
    if (::rename(path_.c_str(), target_.c_str()) != 0)
      return make_error(Code::kIo, "rename {} to {}: {}", path_, target_, std::strerror(errno));
    path_.clear();
    std::string dir = std::filesystem::path(target_).parent_path().string();
    UniqueFd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.valid()) (void)::fsync(dfd.get());  // best effort: the rename is already visible
    return Status::ok();
  }

 private:
  UniqueFd fd_;
  std::string path_;
  std::string target_;
};

Status check_name(std::string_view kind, const std::string& name, std::unordered_set<std::string>& seen) {
  if (name.empty()) return make_error(Code::kInvalidArgument, "a {} has an empty name", kind);
  if (name.size() > kMaxNameBytes)
    return make_error(Code::kInvalidArgument, "{} name '{}...' is longer than {} bytes", kind, name.substr(0, 40),
                      kMaxNameBytes);
  if (!seen.insert(name).second) return make_error(Code::kInvalidArgument, "two {}s are named '{}'", kind, name);
  return Status::ok();
}

Result<uint64_t> shape_bytes(const std::vector<int64_t>& shape, DType dtype, std::string_view what) {
  if (shape.size() > kMaxRank)
    return make_error(Code::kInvalidArgument, "{} has rank {}, over the limit of {}", what, shape.size(), kMaxRank);
  if (dtype_size(dtype) == 0) return make_error(Code::kInvalidArgument, "{} has an unknown dtype", what);
  uint64_t bytes = dtype_size(dtype);
  for (int64_t d : shape) {
    if (d < 0) return make_error(Code::kInvalidArgument, "{} has a negative dimension {}", what, d);
    if (d != 0 && bytes > kMaxDataLength / static_cast<uint64_t>(d))
      return make_error(Code::kInvalidArgument, "{} is larger than the format allows", what);
    bytes *= static_cast<uint64_t>(d);
  }
  return bytes;
}

Status check_contents(const BundleContents& c, const WriteOptions& o) {
  if (o.chunk_size < kMinChunkSize || o.chunk_size > kMaxChunkSize || o.chunk_size % kAlignment != 0)
    return make_error(Code::kInvalidArgument, "chunk size {} must be a multiple of {} in [{}, {}]", o.chunk_size,
                      kAlignment, kMinChunkSize, kMaxChunkSize);
  if (o.compression == Compression::kZstd && (o.zstd_level < ZSTD_minCLevel() || o.zstd_level > ZSTD_maxCLevel()))
    return make_error(Code::kInvalidArgument, "zstd level {} is outside [{}, {}]", o.zstd_level, ZSTD_minCLevel(),
                      ZSTD_maxCLevel());
  for (const auto* s : {&c.name, &c.version, &c.backend})
    if (s->size() > kMaxNameBytes) return make_error(Code::kInvalidArgument, "name, version or backend is too long");
  if (c.tensors.size() > kMaxTensors) return make_error(Code::kInvalidArgument, "{} tensors, over the limit of {}", c.tensors.size(), kMaxTensors);
  if (c.files.size() > kMaxFiles) return make_error(Code::kInvalidArgument, "{} files, over the limit of {}", c.files.size(), kMaxFiles);
  std::unordered_set<std::string> seen;
  for (const auto& t : c.tensors) {
    THAW_TRY(check_name("tensor", t.name, seen));
    THAW_ASSIGN_OR_RETURN(uint64_t bytes, shape_bytes(t.shape, t.dtype, fmt::format("tensor '{}'", t.name)));
    if (bytes != t.data.size())
      return make_error(Code::kInvalidArgument, "tensor '{}' has {} bytes, but {} x its shape needs {}", t.name,
                        t.data.size(), dtype_name(t.dtype), bytes);
  }
  seen.clear();
  for (const auto& f : c.files) THAW_TRY(check_name("file", f.name, seen));
  if (c.warmup.size() > kMaxWarmupRequests)
    return make_error(Code::kInvalidArgument, "{} warm-up requests, over the limit of {}", c.warmup.size(), kMaxWarmupRequests);
  for (size_t r = 0; r < c.warmup.size(); ++r) {
    if (c.warmup[r].inputs.size() > kMaxWarmupInputs)
      return make_error(Code::kInvalidArgument, "warm-up request {} has too many inputs", r);
    for (const auto& in : c.warmup[r].inputs) {
      auto f = std::find_if(c.files.begin(), c.files.end(), [&](const WriterFile& wf) { return wf.name == in.file; });
      if (in.tensor_name.empty()) return make_error(Code::kInvalidArgument, "warm-up request {} has an unnamed input", r);
      if (f == c.files.end())
        return make_error(Code::kInvalidArgument, "warm-up input '{}' names file '{}', which is not in the bundle",
                          in.tensor_name, in.file);
      THAW_ASSIGN_OR_RETURN(uint64_t bytes, shape_bytes(in.shape, in.dtype, fmt::format("warm-up input '{}'", in.tensor_name)));
      if (bytes != f->bytes().size())
        return make_error(Code::kInvalidArgument, "warm-up input '{}': file '{}' has {} bytes, its shape needs {}",
                          in.tensor_name, in.file, f->bytes().size(), bytes);
    }
  }
  return Status::ok();
}

// Calls `fn(span)` for each piece of [a, b): item bytes, or zero runs (an empty span with a size)
// passed as `zeros`.
template <typename Bytes, typename Zeros>
void for_each_segment(const std::vector<Item>& items, uint64_t a, uint64_t b, Bytes&& bytes, Zeros&& zeros) {
  auto it = std::upper_bound(items.begin(), items.end(), a, [](uint64_t off, const Item& i) { return off < i.offset; });
  if (it != items.begin()) --it;
  uint64_t pos = a;
  for (; it != items.end() && it->offset < b && pos < b; ++it) {
    const uint64_t start = std::max(it->offset, pos);
    const uint64_t end = std::min(b, it->offset + it->data.size());
    if (end <= start) continue;
    if (start > pos) zeros(start - pos);
    bytes(it->data.subspan(start - it->offset, end - start));
    pos = end;
  }
  if (pos < b) zeros(b - pos);
}

// Runs `task(worker, i)` for i in [0, count) on up to `threads` workers; returns the first error.
template <typename Task>
Status run_parallel(size_t count, size_t workers, Task&& task) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto worker = [&](size_t w) {
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < count;) {
      Status s = task(w, i);
      if (!s.is_ok()) {
        std::lock_guard lock(mu);
        if (first.is_ok()) first = s;
        failed = true;
      }
    }
  };
  const size_t n = std::min(workers, count);
  if (n <= 1) {
    worker(0);
    return first;
  }
  std::vector<std::thread> pool;
  for (size_t t = 0; t < n; ++t) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
  return first;
}

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

}  // namespace

std::vector<uint64_t> plan_tensor_offsets(const std::vector<WriterTensor>& tensors) {
  std::vector<uint64_t> lengths;
  for (const auto& t : tensors) lengths.push_back(t.data.size());
  uint64_t data_length = 0;
  return place_items(lengths, &data_length);
}

Status write(const std::string& path, const BundleContents& contents, const WriteOptions& options) {
  THAW_TRY(check_contents(contents, options));
  const bool zstd = options.compression == Compression::kZstd;
  const int threads = options.threads > 0 ? options.threads : std::max(1, static_cast<int>(usable_cores()));

  std::vector<Item> items;
  for (const auto& t : contents.tensors) items.push_back({fmt::format("tensor '{}'", t.name), t.data});
  for (const auto& f : contents.files) items.push_back({fmt::format("file '{}'", f.name), f.bytes()});
  std::vector<uint64_t> lengths;
  for (const auto& i : items) lengths.push_back(i.data.size());
  Manifest m;
  std::vector<uint64_t> offsets = place_items(lengths, &m.data_length);
  if (m.data_length > kMaxDataLength)
    return make_error(Code::kInvalidArgument, "the data section would be {} bytes, over the limit of {}", m.data_length,
                      kMaxDataLength);
  std::vector<ItemSpan> spans;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].offset = offsets[i];
    spans.push_back({offsets[i], lengths[i]});
  }
  const std::vector<ChunkSpan> plan = plan_chunks(spans, m.data_length, options.chunk_size);

  m.name = contents.name;
  m.version = contents.version;
  m.backend = contents.backend;
  m.compression = options.compression;
  m.byte_shuffle = zstd && options.byte_shuffle;
  m.chunk_size = options.chunk_size;
  m.warmup = contents.warmup;
  m.metadata = contents.metadata.is_object() ? contents.metadata : nlohmann::json::object();
  m.chunks.resize(plan.size());
  std::vector<uint64_t> checksums(items.size());
  std::vector<std::vector<std::byte>> frames(zstd ? plan.size() : 0);

  // Hash every item and chunk (and compress chunks) in parallel.
  std::mutex progress_mu;
  auto report = [&](uint64_t n) {
    if (!options.progress) return;
    std::lock_guard lock(progress_mu);
    options.progress(n);
  };
  const size_t workers = static_cast<size_t>(threads);
  std::vector<std::unique_ptr<ZSTD_CCtx, CctxDeleter>> cctxs(workers);  // one per worker, made on first use
  Status s = run_parallel(items.size() + plan.size(), workers, [&](size_t worker, size_t task) -> Status {
    if (task < items.size()) {
      checksums[task] = xxh3_64(items[task].data);
      return Status::ok();
    }
    const size_t ci = task - items.size();
    const ChunkSpan& c = plan[ci];
    ChunkEntry& e = m.chunks[ci];
    e.data_offset = c.data_offset;
    e.length = c.length;
    if (!zstd) {
      Xxh3Stream128 h;
      for_each_segment(items, c.data_offset, c.data_offset + c.length, [&](auto b) { h.update(b); },
                       [&](uint64_t n) { h.update_zeros(n); });
      e.id = h.hex_digest();
      e.stored_length = c.length;
      return Status::ok();  // progress is reported as the bytes are written below
    }
    std::vector<std::byte> raw(c.length);
    uint64_t pos = 0;
    for_each_segment(items, c.data_offset, c.data_offset + c.length,
                     [&](auto b) { std::memcpy(raw.data() + pos, b.data(), b.size()); pos += b.size(); },
                     [&](uint64_t n) { pos += n; });  // `raw` starts zeroed
    e.id = xxh3_128_hex(raw);
    std::span<const std::byte> input = raw;
    std::vector<std::byte> planes;
    if (m.byte_shuffle) {
      planes.resize(raw.size());
      shuffle_bytes(raw, planes);
      input = planes;
    }
    auto& cctx = cctxs[worker];
    if (!cctx) cctx.reset(ZSTD_createCCtx());
    if (!cctx) return make_error(Code::kResourceExhausted, "ZSTD_createCCtx failed");
    std::vector<std::byte>& out = frames[ci];
    out.resize(ZSTD_compressBound(input.size()));
    size_t n = ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), input.data(), input.size(), options.zstd_level);
    if (ZSTD_isError(n)) return make_error(Code::kInternal, "zstd compress chunk {}: {}", ci, ZSTD_getErrorName(n));
    out.resize(n);
    out.shrink_to_fit();
    e.stored_length = n;
    report(c.length);
    return Status::ok();
  });
  THAW_TRY(s);
  for (size_t i = 0; i < contents.tensors.size(); ++i) {
    const auto& t = contents.tensors[i];
    m.tensors.push_back({t.name, t.dtype, t.shape, items[i].offset, t.data.size(), checksums[i]});
  }
  for (size_t i = 0; i < contents.files.size(); ++i) {
    const size_t k = contents.tensors.size() + i;
    m.files.push_back({contents.files[i].name, items[k].offset, contents.files[i].bytes().size(), checksums[k]});
  }

  // The data section starts on the first page after the manifest; chunk file offsets depend on it,
  // and the manifest's length depends on them, so grow the guess until it holds.
  Header h;
  std::string text;
  uint64_t data_offset = kAlignment;
  for (;;) {
    uint64_t cursor = data_offset;
    for (auto& c : m.chunks) {
      c.file_offset = cursor;
      cursor += c.stored_length;
    }
    THAW_ASSIGN_OR_RETURN(text, encode_manifest(m));
    uint64_t need = align_up(kHeaderSize + text.size(), kAlignment);
    h.data_stored_length = cursor - data_offset;
    if (need <= data_offset) break;
    data_offset = need;
  }
  if (text.size() > kMaxManifestBytes)
    return make_error(Code::kInvalidArgument, "the manifest would be {} bytes, over the limit of {}", text.size(),
                      kMaxManifestBytes);
  h.manifest_length = text.size();
  h.manifest_checksum = xxh3_64(std::as_bytes(std::span(text)));
  h.data_offset = data_offset;
  h.file_length = data_offset + h.data_stored_length;

  THAW_ASSIGN_OR_RETURN(TempFile tmp, TempFile::create(path));
  const int fd = tmp.fd();
  auto header = encode_header(h);
  THAW_TRY(write_all(fd, header));
  THAW_TRY(write_all(fd, std::as_bytes(std::span(text))));
  THAW_TRY(write_zeros(fd, data_offset - kHeaderSize - text.size()));
  if (zstd) {
    for (auto& f : frames) {
      THAW_TRY(write_all(fd, f));
      std::vector<std::byte>().swap(f);
    }
  } else {
    for (size_t i = 0; i < items.size(); ++i) {
      const uint64_t next = i + 1 < items.size() ? items[i + 1].offset : m.data_length;
      std::span<const std::byte> rest = items[i].data;
      while (!rest.empty()) {  // in pieces, so a progress bar moves during large tensors
        const size_t n = std::min<size_t>(rest.size(), 16 << 20);
        THAW_TRY(write_all(fd, rest.first(n)));
        report(n);
        rest = rest.subspan(n);
      }
      THAW_TRY(write_zeros(fd, next - items[i].offset - items[i].data.size()));
      report(next - items[i].offset - items[i].data.size());
    }
  }
  return tmp.commit().with_context(fmt::format("writing {}", path));
}

}  // namespace thaw::bundle
