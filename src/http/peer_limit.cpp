#include "http/peer_limit.h"

#include <cstring>
#include <string_view>

namespace thaw::http {

PeerLimit::Slot& PeerLimit::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = std::exchange(o.owner_, nullptr);
    key_ = o.key_;
  }
  return *this;
}

void PeerLimit::Slot::release() {
  if (auto* owner = std::exchange(owner_, nullptr)) owner->release(key_);
}

size_t PeerLimit::KeyHash::operator()(const Key& k) const {
  return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

PeerLimit::Key PeerLimit::key_of(const boost::asio::ip::address& address) {
  const auto v6 = address.is_v4() ? boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, address.to_v4())
                                  : address.to_v6();
  const auto bytes = v6.to_bytes();
  Key key;
  std::memcpy(key.data(), bytes.data(), key.size());
  return key;
}

bool PeerLimit::acquire(const boost::asio::ip::address& address, Slot* slot) {
  if (per_peer_ == 0) return true;
  const Key key = key_of(address);
  std::lock_guard lock(mu_);
  size_t& n = open_[key];
  if (n >= per_peer_) return false;
  ++n;
  *slot = Slot(this, key);
  return true;
}

size_t PeerLimit::count(const boost::asio::ip::address& address) const {
  std::lock_guard lock(mu_);
  auto it = open_.find(key_of(address));
  return it == open_.end() ? 0 : it->second;
}

void PeerLimit::release(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = open_.find(key);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

}  // namespace thaw::http
