// How an asynchronous handler answers its request: now or later, from any thread, whole or as a
// stream. Waiting requests are state held by whoever will answer them, never a parked thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "http/loop.h"
#include "http/message.h"

namespace thaw::http {

// The head of a streamed response.
struct ResponseHead {
  int status = 200;
  std::string content_type = "application/octet-stream";
  Headers headers;
  // Set: exactly this many body bytes follow (Content-Length). Unset: chunked transfer coding, or
  // for an HTTP/1.0 client a body that ends when the connection closes.
  std::optional<uint64_t> content_length;
};

// Called once a write is handed to the kernel (ok), or with an error when the client is gone or
// stopped reading (write timeout), or the response was already ended. Runs on the connection's loop.
using WriteDone = std::function<void(Status)>;

class Exchange;  // the server's side of one request (http/exchange.h)

// A cheap, copyable handle on one request's answer. Either send() once, or begin() and then any
// number of write()/write_file() calls followed by finish() (or abort()). Every method may be
// called from any thread; the work runs on the connection's loop. Calls after the answer is
// complete or the client has gone do nothing (their WriteDone gets an error). If every copy is
// dropped before an answer, the client gets 500: a request is never left hanging.
class Responder {
 public:
  explicit Responder(std::shared_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}

  // A whole response. False when the request was already answered or its client is gone.
  bool send(Response response) const;
  // Starts a streamed response with `head`.
  bool begin(ResponseHead head) const;
  // Queues bytes of the body. For back-pressure, write the next piece after `done`.
  void write(std::string bytes, WriteDone done = {}) const;
  // Queues `length` bytes of `fd` from `offset` (sendfile; the descriptor is closed after use).
  void write_file(UniqueFd fd, uint64_t offset, uint64_t length, WriteDone done = {}) const;
  // Ends the body; with a Content-Length, short bodies cut the connection instead.
  void finish(WriteDone done = {}) const;
  // Cuts the connection mid-response: the client sees a truncated body, never a wrong one.
  void abort() const;

  // Runs `fn` once, on the connection's loop, if the client goes away (or the server stops)
  // before the answer is complete; at once if that already happened.
  void on_cancel(std::function<void()> fn) const;
  bool cancelled() const;
  // Every whole response with status >= 400 sent for this request passes through `fn` first, so a
  // route can give the errors of shared code its API's shape. Call before handing the request on.
  void set_error_format(std::function<Response(Response)> fn) const;
  // Names the caller in the server's request log (an API key's name, "admin"); optional.
  void set_user(std::string user) const;
  // The connection's loop: post continuations there, run asynchronous clients on it.
  const Loop& loop() const;

 private:
  std::shared_ptr<Exchange> exchange_;
};

}  // namespace thaw::http
