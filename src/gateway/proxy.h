// One request forwarded to an instance: waits for a lease as state, sends the request on a
// kept-alive connection from the loop of the client's connection, and passes the answer back whole
// (small bodies) or piece by piece with back-pressure (streams). An instance that breaks under the
// request is replaced and the request retried once elsewhere, unless part of the answer has
// already gone out. A client that hangs up cancels the wait or the upstream request.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/async_client.h"
#include "http/responder.h"
#include "manager/instance_pool.h"
#include "manager/lease.h"
#include "manager/tier.h"

namespace thaw::gateway {

class Gateway;

// Maps a manager refusal to the status a client should see: 429 batch shed, 503 queue full or
// cannot start (Retry-After), 504 no slot in time, 404 unknown model. Without `show_internals`,
// a message that may name worker logs, sockets or PIDs is replaced by a plain one about `model`.
http::Response refusal(const Status& status, manager::Tier tier, bool show_internals = true,
                       std::string_view model = {});
// A refusal's message as any client may read it: the manager's own words unless they name a
// process id, a log or its lines, a socket or a file path; then a plain sentence about `model`.
std::string public_message(const Status& status, std::string_view model);

struct ProxyCall : std::enable_shared_from_this<ProxyCall> {
  Gateway* gateway = nullptr;
  http::Responder responder;
  std::string model;    // the model asked for
  std::string serving;  // the model that answers (its student while it is cold)
  manager::Tier tier = manager::Tier::kStandard;
  http::ClientRequest upstream;
  // For metadata: cache a 200 under this key ("" for inference).
  std::string cache_key;
  bool count_metrics = true;
  bool show_internals = false;  // the caller holds the admin token: errors keep their details

  explicit ProxyCall(http::Responder r) : responder(std::move(r)) {}
  // Starts the call; the responder answers it in every case.
  void start();

 private:
  void acquire();
  void on_lease(Result<manager::Lease> lease);
  void send_upstream();
  void on_head(http::ClientHead& head);
  void on_data(std::string& piece, std::function<void()> more);
  void on_done(Status status);
  bool retry(const std::string& why);
  void answer(http::Response response);
  void cancel();
  void release_client(bool reuse);
  // Counts the outcome in /metrics and the statistics extension.
  void record(int status);

  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point up0_;
  double queue_s_ = -1, upstream_s_ = -1;
  int attempt_ = 0;
  bool cancelled_ = false;
  bool finished_ = false;
  manager::WaitTicket ticket_;
  std::shared_ptr<ProxyCall> waiting_self_;  // while the manager holds the acquire callback
  std::optional<manager::Lease> lease_;
  std::shared_ptr<http::AsyncClient> client_;
  // The answer in progress.
  int status_ = 0;
  http::Headers headers_;
  std::string content_type_;
  bool whole_ = false;
  bool streaming_ = false;  // part of the answer went out: no retry, no error response
  std::string body_;
};

}  // namespace thaw::gateway
