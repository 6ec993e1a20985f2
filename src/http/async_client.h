// An HTTP/1.1 client that never blocks: one connection on one event loop, kept alive across
// requests, with the response delivered whole or streamed with back-pressure. The gateway proxies
// through it from the loop of the connection it serves, so no thread waits on an upstream.
//
// Thread-safety: create it with the loop it runs on, and call it only from that loop's thread
// (a loop_per_thread server's loop, or a LoopThread). Callbacks run there too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "http/client.h"
#include "http/endpoint.h"
#include "http/loop.h"
#include "http/message.h"

namespace thaw::http {

struct AsyncClientOptions {
  Endpoint endpoint;
  // From sending to the response head, and then between two pieces of the body.
  std::chrono::milliseconds timeout{10'000};
  uint64_t max_response_bytes = uint64_t{4} << 30;  // bodies received whole; larger: kResourceExhausted
  uint64_t whole_body_limit = 1 << 20;  // bodies up to this, with a Content-Length, arrive in one piece
  std::string host_header;              // Host: value; defaults to the endpoint
};

struct ClientHead {
  int status = 0;
  Headers headers;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  // The body arrives as one piece (a Content-Length within whole_body_limit).
  bool whole = false;
  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  Headers headers;
  std::string body;
};

struct StreamCallbacks {
  std::function<void(ClientHead&)> on_head;
  // One piece of the body; nothing more is read until `more()` is called (back-pressure). The
  // last piece needs no `more()`: on_done follows it at once.
  std::function<void(std::string& piece, std::function<void()> more)> on_data;
  // Kept alive until on_done has run: lets the callbacks capture a plain pointer to it.
  std::shared_ptr<void> owner;
  // The exchange ended: ok after the last byte, else why (and the connection is closed).
  std::function<void(Status)> on_done;
};

class AsyncClient : public std::enable_shared_from_this<AsyncClient> {
 public:
  static std::shared_ptr<AsyncClient> create(Loop loop, AsyncClientOptions options);
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Sends the request and streams the answer to `callbacks`. One exchange at a time. Transport
  // failures end in on_done with kUnavailable (cannot connect, connection broke), kDeadlineExceeded
  // (timeout) or kCancelled (cancel()); any HTTP status is a response. A kept-alive connection the
  // server had closed meanwhile is reopened and the request resent once, transparently.
  void stream(ClientRequest request, StreamCallbacks callbacks);
  // The whole response at once.
  void request(ClientRequest request, std::function<void(Result<ClientResponse>)> done);
  // Ends the exchange in progress (on_done gets kCancelled) and closes the connection.
  void cancel();
  // Connected, kept alive, and no exchange in progress: ready for the next request.
  bool reusable() const;
  const Endpoint& endpoint() const;

  struct Impl;

 private:
  AsyncClient() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::http
