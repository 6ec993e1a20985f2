// Server::Impl, shared by the server's sources: the listener and loops (server.cpp) and the
// connections (server_session.cpp).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>

#include "http/fd_reserve.h"
#include "http/loop_impl.h"
#include "http/peer_limit.h"
#include "http/server.h"

namespace thaw::http {

// What stop() needs from a live connection; calls happen on the connection's loop.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void post_stop() = 0;   // finish the request in flight, then close
  virtual void post_close() = 0;  // close now
};

struct Server::Impl {
  ServerOptions options;
  Router router;
  Endpoint bound;

  struct Counters {
    std::atomic<uint64_t> accepted{0}, rejected{0}, requests{0}, bad{0}, timeouts{0}, cancelled{0};
    std::atomic<uint64_t> exhausted{0}, tls_failures{0};
    std::atomic<uint64_t> pending{0};  // requests answered later (asynchronous), not yet answered
  } counters;

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions;  // open connections; guarded by mu
  uint64_t next_id = 0;                                                // guarded by mu
  std::atomic<bool> stopping{false};
  bool stopped = false;  // guarded by stop_mu
  std::mutex stop_mu;

  // Loop 0 is `io`. With loop_per_thread each thread runs its own loop (the others are kept running
  // by work guards) and loop 0 only accepts; otherwise every thread runs `io`.
  boost::asio::io_context io;
  std::vector<std::unique_ptr<boost::asio::io_context>> extra_loops;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
  std::vector<Loop> loop_handles;                     // one per loop, for connections on it
  std::shared_ptr<LoopGate> gate = std::make_shared<LoopGate>();
  std::unique_ptr<std::atomic<int>[]> loop_sessions;  // open connections per loop
  std::unique_ptr<std::atomic<int>[]> loop_busy;      // handlers running per loop
  int loop_count = 1;
  std::optional<boost::asio::ip::tcp::acceptor> tcp_acceptor;
  std::optional<boost::asio::local::stream_protocol::acceptor> unix_acceptor;
  std::vector<std::thread> threads;
  PeerLimit peers;                      // connections per client address
  DescriptorReserve reserve;            // loop 0 only
  std::optional<boost::asio::steady_timer> accept_pause;  // loop 0 only: out of descriptors, no spare
  std::chrono::steady_clock::time_point exhausted_logged{};  // loop 0 only

  Impl(ServerOptions o, Router r);
  boost::asio::io_context& loop(int i) { return i == 0 ? io : *extra_loops[static_cast<size_t>(i - 1)]; }
  // The loop for a new connection: fewest connections, and none blocked in a handler if possible.
  // With several loops, loop 0 only accepts, so a blocking handler can never stall accepting.
  int pick_loop();

  uint64_t add_session(std::weak_ptr<SessionBase> s);
  void remove_session(uint64_t id);
  std::vector<std::shared_ptr<SessionBase>> live_sessions();
  size_t sessions_open();
  bool wait_drained(std::chrono::milliseconds d);

  template <class Acceptor>
  void accept_loop(Acceptor& acceptor);
  // accept() failed for want of descriptors: answer one waiting client 503, then accept again.
  template <class Acceptor>
  void on_out_of_descriptors(Acceptor& acceptor);
  void close_acceptors();
};

// Sockets on a loop of their own run on its io_context's executor; on the shared loop, on a strand.
// Concrete executor types: a type-erased one would cost every asynchronous operation.
using IoExecutor = boost::asio::io_context::executor_type;
using StrandExecutor = boost::asio::strand<IoExecutor>;
template <class Protocol, class Executor>
using SocketOn = boost::asio::basic_stream_socket<Protocol, Executor>;

// How an accepted connection is let in.
struct Admission {
  const char* reject = nullptr;  // set: the client gets 503 with this message and the connection closes
  PeerLimit::Slot slot;          // its place in its address's count
};

// Starts serving an accepted socket on loop `index` (server_session.cpp); TLS when the server has it.
void start_session(SocketOn<boost::asio::ip::tcp, IoExecutor> socket, Server::Impl& server, int index, Admission a);
void start_session(SocketOn<boost::asio::ip::tcp, StrandExecutor> socket, Server::Impl& server, int index, Admission a);
void start_session(SocketOn<boost::asio::local::stream_protocol, IoExecutor> socket, Server::Impl& server, int index,
                   Admission a);
void start_session(SocketOn<boost::asio::local::stream_protocol, StrandExecutor> socket, Server::Impl& server,
                   int index, Admission a);

}  // namespace thaw::http
