#include "bundle/hash.h"

#include <xxhash.h>

#include <array>

#include <fmt/format.h>

namespace thaw::bundle {

namespace {
std::string hex128(XXH128_hash_t h) { return fmt::format("{:016x}{:016x}", h.high64, h.low64); }
bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
}  // namespace

uint64_t xxh3_64(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::string xxh3_128_hex(std::span<const std::byte> bytes) { return hex128(XXH3_128bits(bytes.data(), bytes.size())); }

std::string checksum_hex(uint64_t value) { return fmt::format("{:016x}", value); }

std::optional<uint64_t> parse_checksum_hex(std::string_view hex) {
  if (hex.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : hex) {
    if (!is_lower_hex(c)) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return v;
}

bool is_chunk_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!is_lower_hex(c)) return false;
  return true;
}

// The library's opaque state, allocated by it so this code does not depend on its layout.
struct Xxh3Stream64::State {
  State() : s(XXH3_createState()) {}
  ~State() { XXH3_freeState(s); }
  State(const State&) = delete;
  XXH3_state_t* s;
};
Xxh3Stream64::Xxh3Stream64() : state_(std::make_unique<State>()) { XXH3_64bits_reset(state_->s); }
Xxh3Stream64::~Xxh3Stream64() = default;
Xxh3Stream64::Xxh3Stream64(Xxh3Stream64&&) noexcept = default;
Xxh3Stream64& Xxh3Stream64::operator=(Xxh3Stream64&&) noexcept = default;
void Xxh3Stream64::update(std::span<const std::byte> bytes) { XXH3_64bits_update(state_->s, bytes.data(), bytes.size()); }
uint64_t Xxh3Stream64::digest() const { return XXH3_64bits_digest(state_->s); }

struct Xxh3Stream128::State {
  State() : s(XXH3_createState()) {}
  ~State() { XXH3_freeState(s); }
  State(const State&) = delete;
  XXH3_state_t* s;
};
Xxh3Stream128::Xxh3Stream128() : state_(std::make_unique<State>()) { XXH3_128bits_reset(state_->s); }
Xxh3Stream128::~Xxh3Stream128() = default;
void Xxh3Stream128::update(std::span<const std::byte> bytes) {
  XXH3_128bits_update(state_->s, bytes.data(), bytes.size());
}
void Xxh3Stream128::update_zeros(uint64_t count) {
  static constexpr std::array<std::byte, 4096> kZeros{};
  while (count > 0) {
    uint64_t n = count < kZeros.size() ? count : kZeros.size();
    XXH3_128bits_update(state_->s, kZeros.data(), n);
    count -= n;
  }
}
std::string Xxh3Stream128::hex_digest() const { return hex128(XXH3_128bits_digest(state_->s)); }

}  // namespace thaw::bundle
