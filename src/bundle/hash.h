// Content hashes used by the bundle format: xxh3-64 checksums of tensors and files, xxh3-128 chunk ids.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace thaw::bundle {

uint64_t xxh3_64(std::span<const std::byte> bytes);
// xxh3-128 as 32 lowercase hex chars: the high 64 bits then the low 64 bits (XXH128 canonical order).
std::string xxh3_128_hex(std::span<const std::byte> bytes);

// A 64-bit checksum as it appears in the manifest: 16 lowercase hex chars.
std::string checksum_hex(uint64_t value);
std::optional<uint64_t> parse_checksum_hex(std::string_view hex);
// True for exactly 32 lowercase hex chars.
bool is_chunk_id(std::string_view id);

// Streaming xxh3-64 over pieces that arrive in order (a tensor spanning several chunks).
class Xxh3Stream64 {
 public:
  Xxh3Stream64();
  ~Xxh3Stream64();
  Xxh3Stream64(Xxh3Stream64&&) noexcept;
  Xxh3Stream64& operator=(Xxh3Stream64&&) noexcept;
  void update(std::span<const std::byte> bytes);
  uint64_t digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Streaming xxh3-128 (a chunk assembled from several tensors and zero padding).
class Xxh3Stream128 {
 public:
  Xxh3Stream128();
  ~Xxh3Stream128();
  void update(std::span<const std::byte> bytes);
  void update_zeros(uint64_t count);
  std::string hex_digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace thaw::bundle
