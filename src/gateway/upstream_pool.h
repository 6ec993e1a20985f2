// Kept-alive connections to instances, one pool per event loop: a connection is only ever used on
// the loop that opened it, so taking and returning one needs no lock. Entries are keyed by the
// instance's lease token and drop out once the instance is gone.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "http/async_client.h"
#include "manager/lease.h"

namespace thaw::gateway {

class UpstreamPool {
 public:
  explicit UpstreamPool(size_t max_idle_per_instance = 16) : max_idle_(max_idle_per_instance) {}
  // A kept-alive connection to the lease's instance, or a new one on `loop`.
  std::shared_ptr<http::AsyncClient> take(const manager::Lease& lease, const http::Loop& loop);
  // Keeps `client` for the next request to the instance if it can be reused.
  void give(const manager::Lease& lease, std::shared_ptr<http::AsyncClient> client);
  size_t instances() const { return entries_.size(); }

 private:
  struct Entry {
    std::weak_ptr<const void> token;
    std::vector<std::shared_ptr<http::AsyncClient>> idle;
  };
  void sweep();

  size_t max_idle_;
  std::unordered_map<const void*, Entry> entries_;
  uint64_t takes_ = 0;
};

}  // namespace thaw::gateway
