#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "bundle/bundle.h"
#include "bundle/format.h"
#include "bundle/hash.h"
#include "bundle/manifest_codec.h"
#include "bundle/shuffle.h"
#include "common/usable_cores.h"

namespace thaw::bundle {

struct ChunkScratch {
  struct DctxDeleter {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
  };
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx;
  std::vector<std::byte> stored;
  std::vector<std::byte> planes;
  std::vector<std::byte> out;
};

namespace {

Status pread_all(int fd, uint64_t offset, std::span<std::byte> dst) {
  size_t done = 0;
  while (done < dst.size()) {
    ssize_t n = ::pread(fd, dst.data() + done, dst.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Code::kIo, "read at offset {}: {}", offset + done, std::strerror(errno));
    }
    if (n == 0) return make_error(Code::kCorrupt, "truncated: read at offset {} hit the end of the file", offset + done);
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

// Up to three names of the items overlapping [begin, end), for errors about a chunk.
std::string items_in(const Manifest& m, uint64_t begin, uint64_t end) {
  std::vector<std::string> names;
  size_t total = 0;
  auto consider = [&](std::string_view kind, const std::string& name, uint64_t off, uint64_t len) {
    if (len == 0 || off >= end || off + len <= begin) return;
    if (++total <= 3) names.push_back(fmt::format("{} '{}'", kind, name));
  };
  for (const auto& t : m.tensors) consider("tensor", t.name, t.offset, t.length);
  for (const auto& f : m.files) consider("file", f.name, f.offset, f.length);
  if (names.empty()) return "only padding";
  std::string s = fmt::format("{}", fmt::join(names, ", "));
  if (total > names.size()) s += fmt::format(" and {} more", total - names.size());
  return s;
}

}  // namespace

Status Reader::read_stored(uint64_t file_offset, std::span<std::byte> dst) const {
  if (file_offset > file_size_ || dst.size() > file_size_ - file_offset)
    return make_error(Code::kCorrupt, "range [{}, +{}) is past the end of the {}-byte file", file_offset, dst.size(),
                      file_size_);
  if (fd_.valid()) return pread_all(fd_.get(), file_offset, dst);
  if (!dst.empty()) std::memcpy(dst.data(), memory_.data() + file_offset, dst.size());
  return Status::ok();
}

Result<std::span<const std::byte>> Reader::chunk_bytes(size_t index, ChunkScratch& s) const {
  const ChunkEntry& c = manifest_.chunks[index];
  if (manifest_.compression == Compression::kNone) {
    if (!fd_.valid()) return memory_.subspan(c.file_offset, c.length);
    s.out.resize(c.length);
    THAW_TRY(read_stored(c.file_offset, s.out));
    return std::span<const std::byte>(s.out.data(), c.length);
  }
  std::span<const std::byte> stored;
  if (fd_.valid()) {
    s.stored.resize(c.stored_length);
    THAW_TRY(read_stored(c.file_offset, s.stored));
    stored = s.stored;
  } else {
    stored = memory_.subspan(c.file_offset, c.stored_length);
  }
  if (!s.dctx) {
    s.dctx.reset(ZSTD_createDCtx());
    if (!s.dctx) return make_error(Code::kResourceExhausted, "ZSTD_createDCtx failed");
  }
  s.out.resize(c.length);
  std::vector<std::byte>& target = manifest_.byte_shuffle ? s.planes : s.out;
  target.resize(c.length);
  size_t n = ZSTD_decompressDCtx(s.dctx.get(), target.data(), target.size(), stored.data(), stored.size());
  if (ZSTD_isError(n))
    return make_error(Code::kCorrupt, "chunks[{}] (data [{}, +{}), holding {}): zstd: {}", index, c.data_offset,
                      c.length, items_in(manifest_, c.data_offset, c.data_offset + c.length), ZSTD_getErrorName(n));
  if (n != c.length)
    return make_error(Code::kCorrupt, "chunks[{}] (holding {}) decompressed to {} bytes, the manifest says {}", index,
                      items_in(manifest_, c.data_offset, c.data_offset + c.length), n, c.length);
  if (manifest_.byte_shuffle) unshuffle_bytes(s.planes, s.out);
  return std::span<const std::byte>(s.out.data(), c.length);
}

Result<Reader> Reader::parse(Reader r) {
  std::array<std::byte, kHeaderSize> head{};
  size_t head_len = std::min<uint64_t>(kHeaderSize, r.file_size_);
  THAW_TRY(r.read_stored(0, std::span(head.data(), head_len)));
  THAW_ASSIGN_OR_RETURN(Header h, decode_header(std::span(head.data(), head_len), r.file_size_));
  std::string text(h.manifest_length, '\0');
  THAW_TRY(r.read_stored(h.manifest_offset, std::as_writable_bytes(std::span(text))));
  uint64_t sum = xxh3_64(std::as_bytes(std::span(text)));
  if (sum != h.manifest_checksum)
    return make_error(Code::kCorrupt, "manifest checksum mismatch: header says {}, the manifest hashes to {}",
                      checksum_hex(h.manifest_checksum), checksum_hex(sum));
  THAW_ASSIGN_OR_RETURN(r.manifest_, decode_manifest(text, h));
  return r;
}

Result<Reader> Reader::open(const std::string& path) {
  Reader r;
  r.path_ = path;
  r.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!r.fd_.valid())
    return make_error(errno == ENOENT ? Code::kNotFound : Code::kIo, "bundle {}: open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(r.fd_.get(), &st) != 0) return make_error(Code::kIo, "bundle {}: fstat: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return make_error(Code::kInvalidArgument, "bundle {}: not a regular file", path);
  r.file_size_ = static_cast<uint64_t>(st.st_size);
  auto parsed = parse(std::move(r));
  if (!parsed.is_ok()) return parsed.status().with_context(fmt::format("bundle {}", path));
  return parsed;
}

Result<Reader> Reader::from_memory(std::span<const std::byte> bytes) {
  Reader r;
  r.memory_ = bytes;
  r.file_size_ = bytes.size();
  return parse(std::move(r));
}

Status Reader::read_data(uint64_t offset, std::span<std::byte> dst) const {
  const Manifest& m = manifest_;
  if (offset > m.data_length || dst.size() > m.data_length - offset)
    return make_error(Code::kInvalidArgument, "range [{}, +{}) is outside the {}-byte data section", offset, dst.size(),
                      m.data_length);
  if (dst.empty()) return Status::ok();
  if (m.compression == Compression::kNone) return read_stored(m.data_offset + offset, dst);
  const uint64_t end = offset + dst.size();
  auto it = std::upper_bound(m.chunks.begin(), m.chunks.end(), offset,
                             [](uint64_t off, const ChunkEntry& c) { return off < c.data_offset; });
  size_t i = static_cast<size_t>(it - m.chunks.begin()) - 1;  // chunks tile from 0, so it != begin()
  ChunkScratch scratch;
  for (; i < m.chunks.size() && m.chunks[i].data_offset < end; ++i) {
    const ChunkEntry& c = m.chunks[i];
    THAW_ASSIGN_OR_RETURN(auto bytes, chunk_bytes(i, scratch));
    uint64_t from = std::max(offset, c.data_offset);
    uint64_t to = std::min(end, c.data_offset + c.length);
    std::memcpy(dst.data() + (from - offset), bytes.data() + (from - c.data_offset), to - from);
  }
  return Status::ok();
}

Result<std::string> Reader::read_file(std::string_view name) const {
  const FileEntry* f = manifest_.find_file(name);
  if (f == nullptr) return make_error(Code::kNotFound, "no file named '{}' in the bundle", name);
  std::string out(f->length, '\0');
  THAW_TRY(read_data(f->offset, std::as_writable_bytes(std::span(out))).with_context(fmt::format("file '{}'", name)));
  return out;
}

Result<std::vector<std::byte>> Reader::read_tensor(std::string_view name) const {
  const TensorEntry* t = manifest_.find_tensor(name);
  if (t == nullptr) return make_error(Code::kNotFound, "no tensor named '{}' in the bundle", name);
  std::vector<std::byte> out(t->length);
  THAW_TRY(read_data(t->offset, out).with_context(fmt::format("tensor '{}'", name)));
  return out;
}

namespace {

// A tensor or file whose checksum verify() recomputes as its bytes stream past.
struct CheckedItem {
  std::string label;
  uint64_t offset, length, checksum;
};

}  // namespace

Status Reader::verify(const std::function<void(uint64_t)>& progress) const {
  const Manifest& m = manifest_;
  std::vector<CheckedItem> items;
  for (const auto& t : m.tensors) items.push_back({fmt::format("tensor '{}'", t.name), t.offset, t.length, t.checksum});
  for (const auto& f : m.files) items.push_back({fmt::format("file '{}'", f.name), f.offset, f.length, f.checksum});
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  auto mismatch = [](const CheckedItem& it, uint64_t got) {
    return make_error(Code::kCorrupt, "{} checksum mismatch: the manifest says {}, its bytes hash to {}", it.label,
                      checksum_hex(it.checksum), checksum_hex(got));
  };
  for (const auto& it : items)
    if (it.length == 0 && xxh3_64({}) != it.checksum) return mismatch(it, xxh3_64({}));
  std::erase_if(items, [](const CheckedItem& it) { return it.length == 0; });

  // Chunks are decoded and id-checked in parallel windows; item checksums stream in order after each.
  const size_t threads = std::max<size_t>(1, std::min<size_t>(usable_cores(), 8));
  const size_t window = threads;
  std::vector<ChunkScratch> scratch(window);
  std::vector<std::span<const std::byte>> bytes(window);
  std::vector<Status> errors(window);
  size_t next_item = 0;
  Xxh3Stream64 hasher;
  for (size_t base = 0; base < m.chunks.size(); base += window) {
    const size_t count = std::min(window, m.chunks.size() - base);
    auto work = [&](size_t slot) {
      const size_t i = base + slot;
      const ChunkEntry& c = m.chunks[i];
      auto r = chunk_bytes(i, scratch[slot]);
      if (!r.is_ok()) {
        errors[slot] = r.status();
        return;
      }
      bytes[slot] = *r;
      std::string id = xxh3_128_hex(bytes[slot]);
      errors[slot] = id == c.id ? Status::ok()
                                : make_error(Code::kCorrupt, "chunks[{}] (data [{}, +{}), holding {}): content hash {} "
                                             "does not match its id {}", i, c.data_offset, c.length,
                                             items_in(m, c.data_offset, c.data_offset + c.length), id, c.id);
    };
    if (count == 1 || threads == 1) {
      for (size_t s = 0; s < count; ++s) work(s);
    } else {
      std::vector<std::thread> pool;
      std::atomic<size_t> cursor{0};
      for (size_t t = 0; t < std::min(threads, count); ++t)
        pool.emplace_back([&] {
          for (size_t s; (s = cursor.fetch_add(1)) < count;) work(s);
        });
      for (auto& th : pool) th.join();
    }
    for (size_t slot = 0; slot < count; ++slot) {
      THAW_TRY(errors[slot]);
      const ChunkEntry& c = m.chunks[base + slot];
      const uint64_t a = c.data_offset, b = c.data_offset + c.length;
      while (next_item < items.size() && items[next_item].offset < b) {
        const CheckedItem& it = items[next_item];
        const uint64_t from = std::max(a, it.offset), to = std::min(b, it.offset + it.length);
        hasher.update(bytes[slot].subspan(from - a, to - from));
        if (it.offset + it.length > b) break;  // continues in the next chunk
        uint64_t got = hasher.digest();
        if (got != it.checksum) return mismatch(it, got);
        hasher = Xxh3Stream64();
        ++next_item;
      }
      if (progress) progress(c.length);
    }
  }
  if (next_item != items.size())
    return make_error(Code::kInternal, "verify: {} was not covered by any chunk", items[next_item].label);
  return Status::ok();
}

}  // namespace thaw::bundle
