// A small HTTP/1.1 server (Asio, Beast for responses) for the worker, the gateway and the cache:
// TCP (optionally TLS) or Unix socket, keep-alive, strict request framing (http/request_parser.h),
// request limits, slow-client timeouts, connection caps overall and per client address, a 503
// instead of a hang when descriptors run out, an optional request log and a graceful stop.
// Creating a server makes the process ignore SIGPIPE: a client that hangs up is an error on its
// own connection, never the death of the process. Handlers run on the server's I/O threads (ServerOptions::threads): synchronous
// ones return their response; asynchronous ones (Router::add_async) answer later through a
// Responder, whole or streamed (chunked, Server-Sent Events, sendfile) with back-pressure, while
// the connection waits as state and a client that hangs up cancels its request.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/endpoint.h"
#include "http/local_call.h"
#include "http/request_log.h"
#include "http/router.h"
#include "http/tls.h"

namespace thaw::http {

struct ServerOptions {
  Endpoint listen;                    // TCP port 0: the OS picks one; read it from endpoint()
  size_t max_header_bytes = 16 << 10; // larger request heads get 431 and the connection closes
  uint64_t max_body_bytes = 64 << 20; // larger bodies get 413 {"error"} and the connection closes
  // A request's head (request line and fields) must arrive within this of its first byte, or of
  // the connection's start for the first request; slower clients are cut off (slowloris).
  std::chrono::milliseconds header_timeout{10'000};
  // A body may pause at most this long between two reads.
  std::chrono::milliseconds body_timeout{30'000};
  // From a request's first byte to its last, whatever the pace (a body trickled in under
  // body_timeout is still cut off here).
  std::chrono::milliseconds request_timeout{10'000};
  // A keep-alive connection waiting for its next request is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  // A client that does not read its response within this is cut off.
  std::chrono::milliseconds write_timeout{30'000};
  size_t max_connections = 1024;      // beyond this, new connections get 503 and are closed
  size_t max_connections_per_client = 0;  // per client IP address, likewise; 0: no cap
  int threads = 1;                    // I/O threads that also run the handlers
  // One event loop per thread, each connection pinned to one loop: no hand-off between threads
  // per request (lower latency), but a handler that blocks stalls the other connections of its
  // loop. New connections go to the loop with the fewest connections not inside a handler; one
  // of the threads only accepts, so use at least 2.
  bool loop_per_thread = false;
  int backlog = 512;
  std::string server_header = "thaw";
  std::shared_ptr<TlsContext> tls;       // set: TLS on a TCP listener
  std::shared_ptr<RequestLog> request_log;  // set: one record per request (access and audit logs)
  unsigned unix_socket_mode = 0;         // set: the Unix socket file gets these permissions (0600)
};

// Counters since start, for /metrics.
struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;  // over max_connections or max_connections_per_client
  uint64_t descriptors_exhausted = 0; // connections answered 503 because no descriptor was left
  uint64_t tls_handshake_failures = 0;
  uint64_t connections_active = 0;
  uint64_t requests = 0;              // requests handed to the router
  uint64_t bad_requests = 0;          // malformed or ambiguous framing, header or body over the limit
  uint64_t timeouts = 0;              // connections cut off mid-request or mid-response
  uint64_t cancelled = 0;             // clients that hung up before their answer was complete
  uint64_t pending = 0;               // asynchronous requests waiting for their answer now
};

// Sets SIGPIPE to be ignored, once per process; Server::listen calls it.
void ignore_sigpipe();

class Server {
 public:
  // Binds and listens; starts no thread (so a process may still fork afterwards). A stale Unix
  // socket file at the path is replaced; it is removed again when the server is destroyed.
  static Result<std::unique_ptr<Server>> listen(ServerOptions options, Router router);
  ~Server();  // stop(0) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound endpoint; for TCP port 0 this carries the port the OS chose.
  const Endpoint& endpoint() const;
  // How many event loops carry connections (ServerOptions::threads with loop_per_thread, else 1);
  // Responder::loop().index() is below this.
  int loop_count() const;
  // Starts options.threads I/O threads and returns.
  void start();
  // Stops accepting, closes idle connections, lets requests in flight finish for up to `grace`,
  // then closes whatever is left (cancelling answers still pending) and joins the threads. Safe
  // to call more than once. Answers that arrive later are dropped.
  void stop(std::chrono::milliseconds grace);
  ServerStats stats() const;

  // Answers `request` through the router on one of the server's loops, as if a connection had sent
  // it (http/local_call.h). Handlers see the same Request, Responder and loop. After stop(),
  // `done` gets 503.
  std::shared_ptr<LocalCall> route_local(Request request, LocalDone done, LocalCallOptions options = {});

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::http
