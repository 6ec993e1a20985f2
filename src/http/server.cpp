#include "http/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace thaw::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;

namespace {

// What stop() needs from a live connection; calls happen on the connection's strand.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void post_stop() = 0;   // finish the request in flight, then close
  virtual void post_close() = 0;  // close now
};

constexpr size_t kMaxDrainBytes = 8 << 20;
constexpr std::chrono::milliseconds kDrainTime{500};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Router router;
  Endpoint bound;

  struct Counters {
    std::atomic<uint64_t> accepted{0}, rejected{0}, requests{0}, bad{0}, timeouts{0};
  } counters;

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions;  // guarded by mu
  uint64_t next_id = 0;                                                // guarded by mu
  std::atomic<bool> stopping{false};
  bool stopped = false;  // guarded by stop_mu
  std::mutex stop_mu;

  asio::io_context io;
  // loop_per_thread: loop 0 is `io` (the acceptors); the others, kept running by work guards,
  // carry the connections.
  std::vector<std::unique_ptr<asio::io_context>> extra_loops;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::unique_ptr<std::atomic<int>[]> loop_sessions;  // open connections per loop
  std::unique_ptr<std::atomic<int>[]> loop_busy;      // handlers running per loop
  int loop_count = 1;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_proto::acceptor> unix_acceptor;
  std::vector<std::thread> threads;

  explicit Impl(ServerOptions o, Router r)
      : options(std::move(o)), router(std::move(r)),
        io(options.loop_per_thread ? 1 : (options.threads > 0 ? options.threads : 1)) {
    if (options.loop_per_thread) loop_count = std::max(1, options.threads);
    loop_sessions = std::make_unique<std::atomic<int>[]>(loop_count);
    loop_busy = std::make_unique<std::atomic<int>[]>(loop_count);
    for (int i = 0; i < loop_count; ++i) loop_sessions[i] = loop_busy[i] = 0;
    for (int i = 1; i < loop_count; ++i) {
      extra_loops.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*extra_loops.back()));
    }
  }
  asio::io_context& loop(int i) { return i == 0 ? io : *extra_loops[static_cast<size_t>(i - 1)]; }
  // The loop for a new connection: fewest connections, and none blocked in a handler if possible.
  // With several loops, loop 0 only accepts, so a blocking handler can never stall accepting.
  int pick_loop() {
    int best = loop_count > 1 ? 1 : 0;
    auto score = [&](int i) { return (loop_busy[i] > 0 ? 1'000'000 : 0) + loop_sessions[i].load(); };
    for (int i = best + 1; i < loop_count; ++i)
      if (score(i) < score(best)) best = i;
    return best;
  }

  uint64_t add_session(std::weak_ptr<SessionBase> s) {
    std::lock_guard lock(mu);
    uint64_t id = next_id++;
    sessions.emplace(id, std::move(s));
    return id;
  }
  void remove_session(uint64_t id) {
    {
      std::lock_guard lock(mu);
      sessions.erase(id);
    }
    cv.notify_all();
  }
  std::vector<std::shared_ptr<SessionBase>> live_sessions() {
    std::lock_guard lock(mu);
    std::vector<std::shared_ptr<SessionBase>> out;
    for (auto& [id, weak] : sessions)
      if (auto s = weak.lock()) out.push_back(std::move(s));
    return out;
  }
  bool wait_drained(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, d, [&] { return sessions.empty(); });
  }

  template <class Acceptor>
  void accept_loop(Acceptor& acceptor);
  void close_acceptors() {
    error_code ec;
    if (tcp_acceptor) tcp_acceptor->close(ec);
    if (unix_acceptor) unix_acceptor->close(ec);
  }
};

namespace {

Request to_request(bhttp::request<bhttp::string_body>&& req) {
  Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& field : req)
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  r.body = std::move(req.body());
  return r;
}

template <class Socket>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Socket>> {
 public:
  Session(Socket socket, Server::Impl& server, int loop)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server), loop_(loop) {
    server_.loop_sessions[loop_]++;
  }
  ~Session() override {
    server_.loop_sessions[loop_]--;
    if (registered_) server_.remove_session(id_);
  }

  void start() {
    id_ = server_.add_session(this->weak_from_this());
    registered_ = true;
    wait_for_request();
  }

  // Over the connection cap: answer 503 and close without reading.
  void reject() {
    auto self = this->shared_from_this();
    asio::dispatch(socket_.get_executor(), [self] {
      self->send(Response::error(503, "too many connections"), false, 11, false);
    });
  }

  void post_stop() override {
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] {
      self->server_stopping_ = true;
      if (self->state_ == State::kIdle) self->close();
    });
  }
  void post_close() override {
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kClosing };

  void arm(std::chrono::milliseconds d) {
    uint64_t gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (ec || gen != self->timer_gen_) return;
      if (self->state_ == State::kReading || self->state_ == State::kWriting)
        self->server_.counters.timeouts++;
      self->close();
    });
  }
  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    state_ = State::kClosing;
    disarm();
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
  }

  void wait_for_request() {
    if (closed_) return;
    state_ = State::kIdle;
    if (server_stopping_ || server_.stopping) return close();
    if (buffer_.size() > 0) return read_header();  // pipelined bytes already here
    arm(server_.options.idle_timeout);
    socket_.async_wait(Socket::wait_read, [self = this->shared_from_this()](error_code ec) {
      if (ec || self->closed_) return self->close();
      self->read_header();
    });
  }

  void read_header() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    arm(server_.options.request_timeout);
    bhttp::async_read_header(socket_, buffer_, *parser_,
                             [self = this->shared_from_this()](error_code ec, size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                        req.version());
      bhttp::async_write(socket_, *cont,
                         [self = this->shared_from_this(), cont](error_code ec, size_t) {
                           if (ec) return self->close();
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        self->on_body(ec);
                      });
  }

  void on_read_error(error_code ec) {
    if (closed_) return;  // timed out or stopped
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return close();
    server_.counters.bad++;
    unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    if (ec == bhttp::error::body_limit)
      return send(Response::error(413, fmt::format("request body is larger than the limit of {} bytes",
                                                    server_.options.max_body_bytes)),
                  false, version, false);
    if (ec == bhttp::error::header_limit)
      return send(Response::error(431, fmt::format("request header is larger than the limit of {} bytes",
                                                    server_.options.max_header_bytes)),
                  false, version, false);
    return send(Response::error(400, "malformed HTTP request: " + ec.message()), false, version, false);
  }

  void on_body(error_code ec) {
    if (ec) return on_read_error(ec);
    disarm();
    state_ = State::kHandling;
    auto req = parser_->release();
    parser_.reset();
    bool keep_alive = req.keep_alive();
    unsigned version = req.version();
    bool head = req.method() == bhttp::verb::head;
    Request request = to_request(std::move(req));
    server_.counters.requests++;
    server_.loop_busy[loop_]++;
    Response response = server_.router.dispatch(request);
    server_.loop_busy[loop_]--;
    send(std::move(response), keep_alive, version, head);
  }

  void send(Response response, bool keep_alive, unsigned version, bool head) {
    if (closed_) return;
    state_ = State::kWriting;
    keep_alive = keep_alive && !server_stopping_ && !server_.stopping;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version);
    res->result(static_cast<unsigned>(response.status));
    res->set(bhttp::field::server, server_.options.server_header);
    if (!response.content_type.empty()) res->set(bhttp::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->insert(k, v);
    res->keep_alive(keep_alive);
    if (head) {
      res->content_length(response.body.size());
    } else {
      res->body() = std::move(response.body);
      res->prepare_payload();
    }
    arm(server_.options.write_timeout);
    bhttp::async_write(socket_, *res,
                       [self = this->shared_from_this(), res, keep_alive](error_code ec, size_t) {
                         if (ec) return self->close();
                         if (keep_alive) return self->wait_for_request();
                         self->linger();
                       });
  }

  // Half-closes and reads what the client still sends for a moment, so an unread request body
  // does not turn our final response into a connection reset on the client's side.
  void linger() {
    state_ = State::kClosing;
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) return close();
    uint64_t gen = ++timer_gen_;
    timer_.expires_after(kDrainTime);
    timer_.async_wait([self = this->shared_from_this(), gen](error_code ec) {
      if (!ec && gen == self->timer_gen_) self->close();
    });
    drain();
  }
  void drain() {
    if (!drain_buf_) drain_buf_ = std::make_unique<std::array<char, 16384>>();
    socket_.async_read_some(asio::buffer(*drain_buf_),
                            [self = this->shared_from_this()](error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->closed_ || self->drained_ > kMaxDrainBytes)
                                return self->close();
                              self->drain();
                            });
  }

  Socket socket_;
  asio::steady_timer timer_;
  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<std::array<char, 16384>> drain_buf_;
  size_t drained_ = 0;
  uint64_t timer_gen_ = 0;
  uint64_t id_ = 0;
  int loop_ = 0;
  bool registered_ = false;
  bool closed_ = false;
  bool server_stopping_ = false;
  State state_ = State::kIdle;
};

}  // namespace

template <class Acceptor>
void Server::Impl::accept_loop(Acceptor& acceptor) {
  const int index = pick_loop();
  acceptor.async_accept(asio::make_strand(loop(index)), [this, &acceptor, index](error_code ec, auto socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<Session<decltype(socket)>>(std::move(socket), *this, index);
      size_t active;
      {
        std::lock_guard lock(mu);
        active = sessions.size();
      }
      if (active >= options.max_connections) {
        counters.rejected++;
        session->reject();
      } else {
        counters.accepted++;
        session->start();
      }
    }
    // EMFILE and friends: keep accepting; the connection cap keeps this rare.
    if (!stopping) accept_loop(acceptor);
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

const Endpoint& Server::endpoint() const { return impl_->bound; }

Result<std::unique_ptr<Server>> Server::listen(ServerOptions options, Router router) {
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
  }
  if (s.options.listen.is_unix()) ::unlink(s.options.listen.unix_path.c_str());
}

ServerStats Server::stats() const {
  Impl& s = *impl_;
  ServerStats st;
  st.connections_accepted = s.counters.accepted;
  st.connections_rejected = s.counters.rejected;
  st.requests = s.counters.requests;
  st.bad_requests = s.counters.bad;
  st.timeouts = s.counters.timeouts;
  {
    std::lock_guard lock(s.mu);
    st.connections_active = s.sessions.size();
  }
  return st;
}

}  // namespace thaw::http
