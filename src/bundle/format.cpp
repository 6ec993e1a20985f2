#include "bundle/format.h"

#include <cstring>

#include "bundle/hash.h"

namespace thaw::bundle {

namespace {

void put_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
void put_u64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
uint32_t get_u32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<uint32_t>(p[i]);
  return v;
}
uint64_t get_u64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<uint64_t>(p[i]);
  return v;
}

// Byte offsets of the header fields (docs/format.md).
constexpr size_t kOffVersion = 4, kOffManifestOffset = 8, kOffManifestLength = 16, kOffDataOffset = 24,
                 kOffDataStored = 32, kOffFileLength = 40, kOffManifestChecksum = 48, kOffHeaderChecksum = 56;

}  // namespace

std::array<std::byte, kHeaderSize> encode_header(const Header& h) {
  std::array<std::byte, kHeaderSize> b{};
  std::memcpy(b.data(), kMagic.data(), kMagic.size());
  put_u32(b.data() + kOffVersion, h.version);
  put_u64(b.data() + kOffManifestOffset, h.manifest_offset);
  put_u64(b.data() + kOffManifestLength, h.manifest_length);
  put_u64(b.data() + kOffDataOffset, h.data_offset);
  put_u64(b.data() + kOffDataStored, h.data_stored_length);
  put_u64(b.data() + kOffFileLength, h.file_length);
  put_u64(b.data() + kOffManifestChecksum, h.manifest_checksum);
  put_u64(b.data() + kOffHeaderChecksum, xxh3_64(std::span(b.data(), kOffHeaderChecksum)));
  return b;
}

Result<Header> decode_header(std::span<const std::byte> b, uint64_t file_size) {
  if (file_size < kHeaderSize || b.size() < kHeaderSize)
    return make_error(Code::kCorrupt, "truncated: the file has {} bytes, fewer than the {}-byte header", file_size,
                      kHeaderSize);
  if (std::memcmp(b.data(), kMagic.data(), kMagic.size()) != 0)
    return make_error(Code::kCorrupt, "bad magic: not a .thaw bundle (the file does not start with \"THAW\")");
  Header h;
  h.version = get_u32(b.data() + kOffVersion);
  if (h.version == 0) return make_error(Code::kCorrupt, "header field version is 0");
  if (h.version > kFormatVersion)
    return make_error(Code::kUnsupported, "format version {} is newer than this build reads (version {})", h.version,
                      kFormatVersion);
  uint64_t want = get_u64(b.data() + kOffHeaderChecksum);
  uint64_t got = xxh3_64(b.subspan(0, kOffHeaderChecksum));
  if (want != got)
    return make_error(Code::kCorrupt, "header checksum mismatch: stored {}, computed {}", checksum_hex(want),
                      checksum_hex(got));
  h.manifest_offset = get_u64(b.data() + kOffManifestOffset);
  h.manifest_length = get_u64(b.data() + kOffManifestLength);
  h.data_offset = get_u64(b.data() + kOffDataOffset);
  h.data_stored_length = get_u64(b.data() + kOffDataStored);
  h.file_length = get_u64(b.data() + kOffFileLength);
  h.manifest_checksum = get_u64(b.data() + kOffManifestChecksum);

  if (h.file_length != file_size) {
    if (file_size < h.file_length)
      return make_error(Code::kCorrupt, "truncated: header field file_length says {} bytes, the file has {}",
                        h.file_length, file_size);
    return make_error(Code::kCorrupt, "header field file_length says {} bytes, the file has {} (trailing bytes)",
                      h.file_length, file_size);
  }
  if (h.manifest_offset < kHeaderSize || h.manifest_offset > file_size)
    return make_error(Code::kCorrupt, "header field manifest_offset {} is outside [{}, {}]", h.manifest_offset,
                      kHeaderSize, file_size);
  if (h.manifest_length == 0 || h.manifest_length > kMaxManifestBytes)
    return make_error(Code::kCorrupt, "header field manifest_length {} is outside [1, {}]", h.manifest_length,
                      kMaxManifestBytes);
  if (h.manifest_length > file_size - h.manifest_offset)
    return make_error(Code::kCorrupt, "header field manifest_length {} at offset {} runs past the end of the {}-byte file",
                      h.manifest_length, h.manifest_offset, file_size);
  if (h.data_offset % kAlignment != 0)
    return make_error(Code::kCorrupt, "header field data_offset {} is not a multiple of {}", h.data_offset, kAlignment);
  if (h.data_offset < h.manifest_offset + h.manifest_length || h.data_offset > file_size)
    return make_error(Code::kCorrupt, "header field data_offset {} is outside [end of manifest {}, file size {}]",
                      h.data_offset, h.manifest_offset + h.manifest_length, file_size);
  if (h.data_stored_length != file_size - h.data_offset)
    return make_error(Code::kCorrupt, "header field data_stored_length {} does not match the {} bytes after data_offset {}",
                      h.data_stored_length, file_size - h.data_offset, h.data_offset);
  return h;
}

}  // namespace thaw::bundle
