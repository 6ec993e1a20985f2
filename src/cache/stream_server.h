// An HTTP/1.1 server for responses too large to hold in memory: handlers return a head plus a
// body callback that writes straight to the socket (bytes, or file ranges by sendfile). Blocking
// I/O, one thread per connection (capped), keep-alive, per-operation socket timeouts. Request
// parsing is Boost.Beast's; requests and small responses use the thaw_http value types.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "common/status.h"
#include "common/unique_fd.h"
#include "http/endpoint.h"
#include "http/message.h"

namespace thaw::cache {

// Where a streamed body goes. Errors mean the client is gone or too slow; the connection closes.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual Status write(std::string_view bytes) = 0;
  virtual Status send_file(int fd, uint64_t offset, uint64_t length) = 0;
};

struct StreamResponse {
  http::Response head;  // status, content type, extra headers; its body is sent when `body` is empty
  uint64_t content_length = 0;                 // with `body`: exactly the bytes it writes
  std::function<Status(BodySink&)> body;       // streams the body; an error cuts the connection
};

using StreamHandler = std::function<StreamResponse(http::Request&)>;

struct StreamServerOptions {
  http::Endpoint listen;                       // TCP; port 0 picks a free port
  size_t max_connections = 256;                // beyond: 503 and close
  std::chrono::milliseconds io_timeout{30'000};  // one read or write making no progress
  std::chrono::milliseconds idle_timeout{60'000};
  uint32_t max_header_bytes = 16 << 10;
  uint64_t max_body_bytes = 1 << 20;
};

class StreamServer {
 public:
  static Result<std::unique_ptr<StreamServer>> listen(StreamServerOptions options, StreamHandler handler);
  ~StreamServer();
  const http::Endpoint& endpoint() const { return endpoint_; }
  void start();
  // Stops accepting, cuts open connections and waits (bounded) for their threads.
  void stop();

 private:
  StreamServer(StreamServerOptions options, StreamHandler handler, UniqueFd fd, http::Endpoint ep)
      : options_(std::move(options)), handler_(std::move(handler)), listen_fd_(std::move(fd)), endpoint_(std::move(ep)) {}
  void accept_loop();
  void serve(int fd);

  StreamServerOptions options_;
  StreamHandler handler_;
  UniqueFd listen_fd_;
  http::Endpoint endpoint_;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int> open_;  // connection fds, for stop()
};

}  // namespace thaw::cache
