#include "gateway/upstream_pool.h"

namespace thaw::gateway {

namespace {
bool same(const std::weak_ptr<const void>& a, const std::shared_ptr<const void>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}
}  // namespace

std::shared_ptr<http::AsyncClient> UpstreamPool::take(const manager::Lease& lease, const http::Loop& loop) {
  if (++takes_ % 1024 == 0) sweep();
  auto token = lease.instance_token().lock();
  auto it = entries_.find(token.get());
  if (it != entries_.end() && !same(it->second.token, token)) {
    entries_.erase(it);  // a gone instance whose address the new one reuses
    it = entries_.end();
  }
  if (it != entries_.end()) {
    auto& idle = it->second.idle;
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (c->reusable()) return c;
    }
  }
  http::AsyncClientOptions o;
  o.endpoint = lease.endpoint();
  o.timeout = lease.request_timeout();
  o.host_header = "thaw";
  return http::AsyncClient::create(loop, std::move(o));
}

void UpstreamPool::give(const manager::Lease& lease, std::shared_ptr<http::AsyncClient> client) {
  if (!client->reusable()) return;
  auto token = lease.instance_token().lock();
  if (!token) return;
  Entry& e = entries_[token.get()];
  if (!same(e.token, token)) e = Entry{};
  e.token = token;
  if (e.idle.size() < max_idle_) e.idle.push_back(std::move(client));
}

void UpstreamPool::sweep() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.token.expired())
      it = entries_.erase(it);
    else
      ++it;
  }
}

}  // namespace thaw::gateway
