#include "loader/pages.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

#include "bundle/hash.h"
#include "loader/mapping.h"
#include "loader/parallel.h"

namespace thaw::loader {

namespace {

constexpr uint64_t kTouchBlock = 16 << 20;  // bytes per work item when touching

}  // namespace

uint64_t touch_pages(std::span<const std::byte> bytes, int threads) {
  const uint64_t blocks = (bytes.size() + kTouchBlock - 1) / kTouchBlock;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> sum{0};
  (void)parallel_for(threads, [&](int) -> Status {
    uint64_t local = 0;
    for (;;) {
      uint64_t b = next.fetch_add(1, std::memory_order_relaxed);
      if (b >= blocks) break;
      const uint64_t end = std::min<uint64_t>(bytes.size(), (b + 1) * kTouchBlock);
      const volatile std::byte* p = bytes.data();
      for (uint64_t off = b * kTouchBlock; off < end; off += kPageSize) local += static_cast<uint8_t>(p[off]);
    }
    sum.fetch_add(local, std::memory_order_relaxed);
    return Status::ok();
  });
  return sum.load();
}

Status verify_checksums(const bundle::Manifest& manifest, std::span<const std::byte> data, int threads) {
  // One work list: tensors and files (so a mismatch is reported by name), then the chunks, which
  // also cover the padding between them. The first mismatch in this order is returned.
  struct Item {
    const char* kind;
    const std::string* name;
    uint64_t offset, length, checksum;
    const std::string* chunk_id;  // set for chunks
  };
  std::vector<Item> items;
  for (const auto& t : manifest.tensors) items.push_back({"tensor", &t.name, t.offset, t.length, t.checksum, nullptr});
  for (const auto& f : manifest.files) items.push_back({"file", &f.name, f.offset, f.length, f.checksum, nullptr});
  for (const auto& c : manifest.chunks) items.push_back({"chunk", &c.id, c.data_offset, c.length, 0, &c.id});
  std::atomic<size_t> next{0};
  std::mutex first_error_mu;
  size_t first_error_index = items.size();
  Status first_error;
  (void)parallel_for(threads, [&](int) -> Status {
    for (;;) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= items.size()) break;
      const Item& it = items[i];
      Status s;
      if (it.offset > data.size() || it.length > data.size() - it.offset) {
        s = make_error(Code::kCorrupt, "{} '{}' [{}, +{}) lies outside the data section of {} bytes", it.kind,
                       *it.name, it.offset, it.length, data.size());
      } else if (it.chunk_id != nullptr) {
        std::string got = bundle::xxh3_128_hex(data.subspan(it.offset, it.length));
        if (got != *it.chunk_id)
          s = make_error(Code::kCorrupt, "chunk at data offset {} hashes to {}, manifest says {}", it.offset, got,
                         *it.chunk_id);
      } else {
        uint64_t got = bundle::xxh3_64(data.subspan(it.offset, it.length));
        if (got != it.checksum)
          s = make_error(Code::kCorrupt, "{} '{}' checksum mismatch: xxh3-64 {:016x}, manifest says {:016x}",
                         it.kind, *it.name, got, it.checksum);
      }
      if (!s.is_ok()) {
        std::lock_guard<std::mutex> lock(first_error_mu);
        if (i < first_error_index) {
          first_error_index = i;
          first_error = s;
        }
      }
    }
    return Status::ok();
  });
  return first_error;
}

}  // namespace thaw::loader
