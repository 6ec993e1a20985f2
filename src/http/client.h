// A minimal blocking HTTP/1.1 client (Boost.Beast) for tests, the gateway and the cache. One
// connection, reused across requests (keep-alive); every call is bounded by the timeout.
// Not thread-safe: use one Client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/endpoint.h"
#include "http/message.h"

namespace thaw::http {

struct ClientOptions {
  Endpoint endpoint;
  std::chrono::milliseconds timeout{10'000};  // whole request: connect, send, receive
  uint64_t max_response_bytes = uint64_t{4} << 30;
  std::string host_header;  // Host: value; defaults to the endpoint
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Sends one request and reads the whole response. Transport failures are errors
  // (kUnavailable: cannot connect or the connection broke; kDeadlineExceeded: timed out);
  // any HTTP status, 4xx/5xx included, is a response. A keep-alive connection the server has
  // closed meanwhile is reopened once transparently.
  Result<ClientResponse> request(std::string_view method, std::string_view target,
                                 const Headers& headers = {}, std::string body = {});
  Result<ClientResponse> get(std::string_view target, const Headers& headers = {}) {
    return request("GET", target, headers);
  }
  Result<ClientResponse> post(std::string_view target, std::string body,
                              std::string_view content_type = "application/json",
                              Headers headers = {});
  // GET with "Range: bytes=offset-(offset+length-1)"; expect 206 (or 200 from servers without
  // range support).
  Result<ClientResponse> get_range(std::string_view target, uint64_t offset, uint64_t length,
                                   Headers headers = {});
  // Streaming: sends one request and reads the response's head only (status and headers; `body`
  // empty). The body is then taken with read_body() straight into the caller's memory, so a large
  // body needs no buffer of its size. A body without a Content-Length (chunked) is read whole
  // first, bounded by max_response_bytes, and read_body() serves from it. A request sent before
  // the body was read to its end closes the connection first (it cannot be reused).
  Result<ClientResponse> request_head(std::string_view method, std::string_view target,
                                      const Headers& headers = {});
  // GET with a Range (as get_range), head only: see request_head.
  Result<ClientResponse> get_range_head(std::string_view target, uint64_t offset, uint64_t length,
                                        Headers headers = {});
  // The streamed body's bytes not read yet.
  uint64_t body_left() const;
  // Reads exactly out.size() more bytes of the streamed body (at most body_left()); each call is
  // bounded by the timeout (a body may take longer in all, as long as it keeps arriving).
  // kInvalidArgument past the body's end; kUnavailable / kDeadlineExceeded when the connection
  // breaks or stalls (it is closed then).
  Status read_body(std::span<std::byte> out);
  // Closes the connection; the next request opens a new one.
  void close();

  struct Impl;

 private:
  Result<ClientResponse> send(std::string_view method, std::string_view target, const Headers& headers,
                              std::string body, bool head_only);
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::http
