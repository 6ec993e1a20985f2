// The fixed 64-byte file header and the limits the reader enforces (docs/format.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "bundle/bundle.h"
#include "common/status.h"

namespace thaw::bundle {

inline constexpr std::array<char, 4> kMagic = {'T', 'H', 'A', 'W'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 64;

// Limits: anything larger is rejected as corrupt before memory is allocated for it.
inline constexpr uint64_t kMinChunkSize = 64 << 10;
inline constexpr uint64_t kMaxChunkSize = 64 << 20;
inline constexpr uint64_t kLargeItemBytes = 64 << 10;   // items this big start their own chunks
inline constexpr uint64_t kMaxDataLength = uint64_t{1} << 48;
inline constexpr size_t kMaxTensors = 1 << 20;
inline constexpr size_t kMaxFiles = 1 << 16;
inline constexpr size_t kMaxChunks = 1 << 24;
inline constexpr size_t kMaxNameBytes = 4096;
inline constexpr size_t kMaxRank = 16;
inline constexpr size_t kMaxWarmupRequests = 64;
inline constexpr size_t kMaxWarmupInputs = 256;
inline constexpr size_t kMaxJsonDepth = 64;

// All integers little-endian; see docs/format.md for the byte table.
struct Header {
  uint32_t version = kFormatVersion;
  uint64_t manifest_offset = kHeaderSize;
  uint64_t manifest_length = 0;
  uint64_t data_offset = 0;         // 4096-aligned file offset of the data section
  uint64_t data_stored_length = 0;  // bytes of the data section in the file
  uint64_t file_length = 0;         // total bytes of the file
  uint64_t manifest_checksum = 0;   // xxh3-64 of the manifest bytes
};

std::array<std::byte, kHeaderSize> encode_header(const Header& h);
// Checks magic, version, header checksum and that every range fits in `file_size`.
Result<Header> decode_header(std::span<const std::byte> bytes, uint64_t file_size);

constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace thaw::bundle
