// A model registry for the cache's tests: an in-process http::Server holding bundles in memory at
// /NAME/VERSION.thaw and answering Range GETs. Reads of a range starting at or past a chosen
// offset can be held (as state, not threads) until the test releases them, so a test can stop a
// fetch mid-bundle without timing.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "http/range.h"
#include "http/server.h"

namespace thaw::cache::testing {

class TestRegistry {
 public:
  TestRegistry() {
    http::Router router;
    router.add_async("GET", "/{name}/{file}",
                     [this](http::Request& req, http::Responder r) { serve(req, r); });
    http::ServerOptions o;
    o.listen = http::Endpoint::tcp("127.0.0.1", 0);
    o.threads = 2;
    server_ = std::move(http::Server::listen(o, std::move(router))).value();
    server_->start();
  }
  ~TestRegistry() {
    release();
    server_->stop(std::chrono::milliseconds(0));
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->endpoint().port); }
  void put(const std::string& name, const std::string& version, std::string bytes) {
    std::lock_guard lock(mu_);
    files_["/" + name + "/" + version + ".thaw"] = std::move(bytes);
  }
  // Reads of ranges starting at `offset` or later wait until release().
  void hold_from(uint64_t offset) {
    std::lock_guard lock(mu_);
    hold_from_ = offset;
  }
  void release() {
    std::vector<std::pair<http::Responder, http::Response>> go;
    {
      std::lock_guard lock(mu_);
      hold_from_ = UINT64_MAX;
      go.swap(held_);
    }
    for (auto& [r, resp] : go) r.send(std::move(resp));
  }
  // Reads held now; waits (bounded) until at least `n` are.
  bool wait_held(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return held_.size() >= n; });
  }
  // The next answer holding byte `offset` has that byte flipped (once).
  void corrupt_once(uint64_t offset) {
    std::lock_guard lock(mu_);
    corrupt_at_ = offset;
  }
  size_t held() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  size_t requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve(const http::Request& req, const http::Responder& r) {
    std::unique_lock lock(mu_);
    ++requests_;
    auto it = files_.find(req.path);
    if (it == files_.end()) {
      lock.unlock();
      r.send(http::Response::error(404, "no such bundle"));
      return;
    }
    http::Response resp;
    resp.content_type = "application/octet-stream";
    auto span = http::select_range(req.header("Range"), it->second.size(), &resp.headers);
    if (!span.is_ok()) {
      lock.unlock();
      r.send(http::range_not_satisfiable(it->second.size(), span.status()));
      return;
    }
    resp.status = span->status;
    resp.body = it->second.substr(span->first, span->end - span->first);
    if (corrupt_at_ >= span->first && corrupt_at_ < span->end) {
      resp.body[corrupt_at_ - span->first] ^= 0x5a;
      corrupt_at_ = UINT64_MAX;
    }
    if (span->first >= hold_from_) {
      held_.emplace_back(r, std::move(resp));
      cv_.notify_all();
      return;
    }
    lock.unlock();
    r.send(std::move(resp));
  }

  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> files_;
  uint64_t hold_from_ = UINT64_MAX;
  uint64_t corrupt_at_ = UINT64_MAX;
  std::vector<std::pair<http::Responder, http::Response>> held_;
  size_t requests_ = 0;
};

}  // namespace thaw::cache::testing
