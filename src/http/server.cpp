#include "http/server.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "http/server_impl.h"

namespace thaw::http {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;

Server::Impl::Impl(ServerOptions o, Router r)
    : options(std::move(o)), router(std::move(r)),
      io(options.loop_per_thread ? 1 : (options.threads > 0 ? options.threads : 1)),
      peers(options.max_connections_per_client) {
  if (options.loop_per_thread) loop_count = std::max(1, options.threads);
  loop_sessions = std::make_unique<std::atomic<int>[]>(loop_count);
  loop_busy = std::make_unique<std::atomic<int>[]>(loop_count);
  for (int i = 0; i < loop_count; ++i) loop_sessions[i] = loop_busy[i] = 0;
  for (int i = 1; i < loop_count; ++i) {
    extra_loops.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*extra_loops.back()));
  }
  for (int i = 0; i < loop_count; ++i) loop_handles.push_back(make_loop(gate, loop(i).get_executor(), i));
}

int Server::Impl::pick_loop() {
  int best = loop_count > 1 ? 1 : 0;
  auto score = [&](int i) { return (loop_busy[i] > 0 ? 1'000'000 : 0) + loop_sessions[i].load(); };
  for (int i = best + 1; i < loop_count; ++i)
    if (score(i) < score(best)) best = i;
  return best;
}

uint64_t Server::Impl::add_session(std::weak_ptr<SessionBase> s) {
  std::lock_guard lock(mu);
  uint64_t id = next_id++;
  sessions.emplace(id, std::move(s));
  return id;
}

void Server::Impl::remove_session(uint64_t id) {
  {
    std::lock_guard lock(mu);
    sessions.erase(id);
  }
  cv.notify_all();
}

std::vector<std::shared_ptr<SessionBase>> Server::Impl::live_sessions() {
  std::lock_guard lock(mu);
  std::vector<std::shared_ptr<SessionBase>> out;
  for (auto& [id, weak] : sessions)
    if (auto s = weak.lock()) out.push_back(std::move(s));
  return out;
}

bool Server::Impl::wait_drained(std::chrono::milliseconds d) {
  std::unique_lock lock(mu);
  return cv.wait_for(lock, d, [&] { return sessions.empty(); });
}

void Server::Impl::close_acceptors() {
  error_code ec;
  if (tcp_acceptor) tcp_acceptor->close(ec);
  if (unix_acceptor) unix_acceptor->close(ec);
}

namespace {
// The canned answer to a connection shed for want of descriptors: no allocation, no parsing.
constexpr std::string_view kOutOfDescriptors =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 61\r\n"
    "Retry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"server overloaded: out of file descriptors; retry\"}";
}  // namespace

template <class Acceptor>
void Server::Impl::on_out_of_descriptors(Acceptor& acceptor) {
  counters.exhausted++;
  const auto now = std::chrono::steady_clock::now();
  if (now - exhausted_logged > std::chrono::seconds(10)) {
    exhausted_logged = now;
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    spdlog::warn("{}: out of file descriptors (limit {}, {} connections open): answering new connections 503; raise "
                 "`ulimit -n` or lower max_connections ({} shed so far)",
                 bound.to_string(), lim.rlim_cur, sessions_open(), counters.exhausted.load());
  }
  // A TLS client cannot read a plain answer: it only sees the connection close.
  const bool shed = reserve.shed(acceptor.native_handle(), options.tls ? std::string_view() : kOutOfDescriptors);
  if (shed || stopping) {
    if (!stopping) accept_loop(acceptor);
    return;
  }
  // No spare to be had: pause, or the failing accept would spin.
  if (!accept_pause) accept_pause.emplace(io);
  accept_pause->expires_after(std::chrono::milliseconds(50));
  accept_pause->async_wait([this, &acceptor](error_code ec) {
    if (!ec && !stopping && acceptor.is_open()) accept_loop(acceptor);
  });
}

size_t Server::Impl::sessions_open() {
  std::lock_guard lock(mu);
  return sessions.size();
}

template <class Acceptor>
void Server::Impl::accept_loop(Acceptor& acceptor) {
  using Protocol = typename Acceptor::protocol_type;
  const int index = pick_loop();
  auto accepted = [this, &acceptor, index](error_code ec, auto socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec && out_of_descriptors(ec)) return on_out_of_descriptors(acceptor);
    if (!ec) {
      Admission a;
      if (sessions_open() >= options.max_connections) {
        a.reject = "too many connections";
      } else if constexpr (std::is_same_v<Protocol, tcp>) {
        error_code pec;
        auto peer = socket.remote_endpoint(pec);
        if (!pec && !peers.acquire(peer.address(), &a.slot)) a.reject = "too many connections from your address";
      }
      (a.reject ? counters.rejected : counters.accepted)++;
      start_session(std::move(socket), *this, index, std::move(a));
    }
    if (!stopping) accept_loop(acceptor);
  };
  // A connection on its own loop runs on that loop's single thread; on the shared loop it gets a
  // strand, so its handlers never run on two threads at once.
  if (options.loop_per_thread) {
    acceptor.async_accept(loop(index).get_executor(), [accepted](error_code ec, SocketOn<Protocol, IoExecutor> s) {
      accepted(ec, std::move(s));
    });
  } else {
    acceptor.async_accept(asio::make_strand(loop(index)),
                          [accepted](error_code ec, SocketOn<Protocol, StrandExecutor> s) { accepted(ec, std::move(s)); });
  }
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

const Endpoint& Server::endpoint() const { return impl_->bound; }

int Server::loop_count() const { return impl_->loop_count; }

void ignore_sigpipe() {
  // sendfile() has no MSG_NOSIGNAL: writing to a socket the client closed raises SIGPIPE.
  static const bool done = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

Result<std::unique_ptr<Server>> Server::listen(ServerOptions options, Router router) {
  ignore_sigpipe();
  if (options.tls && options.listen.is_unix())
    return make_error(Code::kInvalidArgument, "TLS is for TCP listeners, not the Unix socket {}", options.listen.unix_path);
  auto impl = std::make_unique<Impl>(std::move(options), std::move(router));
  const Endpoint& ep = impl->options.listen;
  error_code ec;
  if (ep.is_unix()) {
    struct stat st {};
    if (::lstat(ep.unix_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return make_error(Code::kInvalidArgument, "{} exists and is not a socket", ep.unix_path);
      ::unlink(ep.unix_path.c_str());
    }
    auto& acc = impl->unix_acceptor.emplace(impl->io);
    unix_proto::endpoint uep(ep.unix_path);
    acc.open(uep.protocol(), ec);
    if (!ec) acc.bind(uep, ec);
    if (!ec && impl->options.unix_socket_mode != 0 && ::chmod(ep.unix_path.c_str(), impl->options.unix_socket_mode) != 0)
      ec = error_code(errno, boost::system::system_category());
    if (!ec) acc.listen(impl->options.backlog, ec);
    if (ec) return make_error(Code::kIo, "listening on {}: {}", ep.to_string(), ec.message());
    impl->bound = ep;
  } else {
    auto addr = asio::ip::make_address(ep.host, ec);
    tcp::endpoint tep;
    if (ec) {
      tcp::resolver resolver(impl->io);
      auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
      if (ec || results.empty())
        return make_error(Code::kInvalidArgument, "cannot resolve host '{}'", ep.host);
      tep = results.begin()->endpoint();
    } else {
      tep = tcp::endpoint(addr, ep.port);
    }
    auto& acc = impl->tcp_acceptor.emplace(impl->io);
    acc.open(tep.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(tep, ec);
    if (!ec) acc.listen(impl->options.backlog, ec);
    if (ec) return make_error(Code::kIo, "listening on {}: {}", ep.to_string(), ec.message());
    auto local = acc.local_endpoint(ec);
    impl->bound = Endpoint::tcp(local.address().to_string(), local.port());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::start() {
  Impl& s = *impl_;
  if (!s.threads.empty() || s.stopping) return;
  if (s.tcp_acceptor) s.accept_loop(*s.tcp_acceptor);
  if (s.unix_acceptor) s.accept_loop(*s.unix_acceptor);
  int n = s.options.threads > 0 ? s.options.threads : 1;
  for (int i = 0; i < n; ++i) {
    asio::io_context& loop = s.loop(s.options.loop_per_thread ? i : 0);
    s.threads.emplace_back([&loop] {
      for (;;) {
        try {
          loop.run();
          return;
        } catch (...) {
          // A handler escaped with an exception; keep serving the other connections.
        }
      }
    });
  }
}

void Server::stop(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  std::lock_guard stop_lock(s.stop_mu);
  if (s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  if (s.threads.empty()) {
    s.close_acceptors();
    s.gate->close();
  } else {
    asio::post(s.io, [&s] { s.close_acceptors(); });
    for (auto& session : s.live_sessions()) session->post_stop();
    if (!s.wait_drained(grace)) {
      for (auto& session : s.live_sessions()) session->post_close();
      // A handler still running cannot be interrupted; give it a bounded time to return.
      s.wait_drained(std::chrono::seconds(30));
    }
    s.io.stop();
    for (auto& l : s.extra_loops) l->stop();
    for (auto& t : s.threads) t.join();
    s.threads.clear();
    // Nothing reaches the loops any more: late answers and their clients' work are dropped.
    s.gate->close();
  }
  if (s.options.listen.is_unix()) ::unlink(s.options.listen.unix_path.c_str());
}

ServerStats Server::stats() const {
  Impl& s = *impl_;
  ServerStats st;
  st.connections_accepted = s.counters.accepted;
  st.connections_rejected = s.counters.rejected;
  st.descriptors_exhausted = s.counters.exhausted;
  st.tls_handshake_failures = s.counters.tls_failures;
  st.requests = s.counters.requests;
  st.bad_requests = s.counters.bad;
  st.timeouts = s.counters.timeouts;
  st.cancelled = s.counters.cancelled;
  st.pending = s.counters.pending;
  {
    std::lock_guard lock(s.mu);
    st.connections_active = s.sessions.size();
  }
  return st;
}

}  // namespace thaw::http
