// Open connections per client address, so that one client cannot hold every connection a server
// allows (slowloris from one host, a leaking pool). Thread-safe: accepting and closing happen on
// different loops.
#pragma once

#include <array>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <boost/asio/ip/address.hpp>

namespace thaw::http {

class PeerLimit {
 public:
  using Key = std::array<unsigned char, 16>;  // IPv6, or IPv4 mapped into it

  // A connection's place in its address's count, given back when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), key_(o.key_) {}
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { release(); }
    bool held() const { return owner_ != nullptr; }

   private:
    friend class PeerLimit;
    Slot(PeerLimit* owner, Key key) : owner_(owner), key_(key) {}
    void release();
    PeerLimit* owner_ = nullptr;
    Key key_{};
  };

  // per_peer 0: no limit (acquire always succeeds and holds nothing).
  explicit PeerLimit(size_t per_peer) : per_peer_(per_peer) {}
  size_t per_peer() const { return per_peer_; }

  // A slot for one more connection from `address`; false when it already holds per_peer.
  bool acquire(const boost::asio::ip::address& address, Slot* slot);
  size_t count(const boost::asio::ip::address& address) const;

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  static Key key_of(const boost::asio::ip::address& address);
  void release(const Key& key);

  const size_t per_peer_;
  mutable std::mutex mu_;
  std::unordered_map<Key, size_t, KeyHash> open_;  // guarded by mu_
};

}  // namespace thaw::http
