// Fuzzes the bundle reader: parsing, validation, verify() and range reads on arbitrary bytes.
// Each input is tried as is (exercising the header and manifest checksums) and "resealed" with
// correct checksums, so mutations reach the manifest validation and data checks behind them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bundle/bundle.h"
#include "bundle/format.h"
#include "bundle/hash.h"

namespace {

using thaw::bundle::Reader;

uint64_t load_u64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<uint64_t>(p[i]);
  return v;
}
void store_u64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

void exercise(std::span<const std::byte> bytes) {
  auto r = Reader::from_memory(bytes);
  if (!r.is_ok()) return;
  const auto& m = r->manifest();
  (void)r->verify();
  // Range reads at the edges of a few items and chunks.
  std::vector<std::byte> buf(64);
  size_t n = 0;
  for (const auto& t : m.tensors) {
    if (++n > 4) break;
    if (t.length >= buf.size()) (void)r->read_data(t.offset + t.length - buf.size(), buf);
  }
  for (const auto& f : m.files) {
    if (f.length <= (1 << 20)) (void)r->read_file(f.name);
    break;
  }
  if (m.data_length >= buf.size()) (void)r->read_data(m.data_length - buf.size(), buf);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> raw(reinterpret_cast<const std::byte*>(data), size);
  exercise(raw);
  if (size < thaw::bundle::kHeaderSize) return 0;
  std::vector<std::byte> sealed(raw.begin(), raw.end());
  std::memcpy(sealed.data(), "THAW", 4);
  const uint64_t m_off = load_u64(sealed.data() + 8), m_len = load_u64(sealed.data() + 16);
  store_u64(sealed.data() + 40, size);
  if (m_off <= size && m_len <= size - m_off)
    store_u64(sealed.data() + 48, thaw::bundle::xxh3_64(std::span(sealed.data() + m_off, m_len)));
  store_u64(sealed.data() + 56, thaw::bundle::xxh3_64(std::span(sealed.data(), 56)));
  exercise(sealed);
  return 0;
}
