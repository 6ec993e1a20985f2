// One server connection: reads requests, hands each to the router with a Responder, and writes the
// answer whenever it comes (whole, or streamed with back-pressure). While an answer is pending it
// keeps watching the socket, so a client that hangs up cancels its request.
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "http/exchange.h"
#include "http/server_impl.h"

namespace thaw::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr size_t kMaxDrainBytes = 8 << 20;
constexpr std::chrono::milliseconds kDrainTime{500};
constexpr size_t kMaxQueuedBodyBytes = 16 << 20;  // a producer ignoring back-pressure is cut off

Request to_request(bhttp::request<bhttp::string_body>&& req) {
  Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.headers.reserve(static_cast<size_t>(std::distance(req.begin(), req.end())));
  for (const auto& field : req) r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  r.body = std::move(req.body());
  return r;
}

void complete(WriteDone& done, const Status& s) {
  if (done) {
    auto d = std::move(done);
    done = nullptr;
    d(s);
  }
}

template <class Socket>
class Session final : public SessionBase,
                      public ExchangeSink,
                      public std::enable_shared_from_this<Session<Socket>> {
 public:
  using Executor = typename Socket::executor_type;

  Session(Socket socket, Server::Impl& server, int loop)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(server), loop_(loop) {
    server_.loop_sessions[loop_]++;
  }
  ~Session() override { unregister(); }

  void start() {
    id_ = server_.add_session(this->weak_from_this());
    registered_ = true;
    wait_for_request();
  }

  // Over the connection cap: answer 503 and close without reading.
  void reject() {
    asio::dispatch(socket_.get_executor(), [self = this->shared_from_this()] {
      self->write_whole(Response::error(503, "too many connections"), false, 11, false);
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

  // ---- ExchangeSink (always on this connection's executor)
  void run_on_connection(std::function<void()> fn) override { asio::dispatch(socket_.get_executor(), std::move(fn)); }
  bool on_connection_thread() const override {
    return const_cast<Socket&>(socket_).get_executor().running_in_this_thread();
  }

  void ex_send(uint64_t id, Response response) override {
    if (!current(id) || state_ != State::kHandling) return;
    write_whole(std::move(response), keep_alive_, version_, head_);
  }

  void ex_begin(uint64_t id, ResponseHead head) override {
    if (!current(id) || state_ != State::kHandling) return;
    state_ = State::kStreaming;
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(head.status));
    res->set(bhttp::field::server, server_.options.server_header);
    if (!head.content_type.empty()) res->set(bhttp::field::content_type, head.content_type);
    for (auto& [k, v] : head.headers) res->insert(k, v);
    keep_alive_ = keep_alive_ && !stopping();
    if (head.content_length) {
      res->content_length(*head.content_length);
      body_left_ = *head.content_length;
    } else if (version_ >= 11) {
      res->chunked(true);
      chunked_ = true;
    } else {
      keep_alive_ = false;  // HTTP/1.0: the body ends when the connection closes
    }
    res->keep_alive(keep_alive_);
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    op_running_ = true;
    arm(server_.options.write_timeout);
    bhttp::async_write_header(socket_, *sr, [self = this->shared_from_this(), res, sr](error_code ec, size_t) {
      self->op_running_ = false;
      if (ec) return self->close();
      self->run_next();
    });
  }

  void ex_write(uint64_t id, BodyPiece piece) override {
    if (!current(id) || state_ != State::kStreaming || finishing_) {
      complete(piece.done, make_error(Code::kUnavailable, "the response is not streaming"));
      return;
    }
    const uint64_t size = piece.file.valid() ? piece.length : piece.bytes.size();
    if (body_left_) {
      if (size > *body_left_) {
        complete(piece.done, make_error(Code::kInternal, "the body is longer than its Content-Length"));
        return close();
      }
      *body_left_ -= size;
    }
    if (!piece.file.valid()) queued_bytes_ += size;
    if (queued_bytes_ > kMaxQueuedBodyBytes) {
      complete(piece.done, make_error(Code::kResourceExhausted, "more than {} body bytes queued", kMaxQueuedBodyBytes));
      return close();
    }
    ops_.push_back(Op{std::move(piece), false, {}});
    run_next();
  }

  void ex_finish(uint64_t id, WriteDone done) override {
    if (!current(id) || state_ != State::kStreaming || finishing_) {
      complete(done, make_error(Code::kUnavailable, "the response is not streaming"));
      return;
    }
    finishing_ = true;
    ops_.push_back(Op{{}, true, std::move(done)});
    run_next();
  }

  void ex_abort(uint64_t id) override {
    if (!current(id)) return;
    close();
  }

 private:
  enum class State { kIdle, kReading, kHandling, kStreaming, kWriting, kClosing };
  struct Op {
    BodyPiece piece;
    bool finish = false;
    WriteDone finish_done;
  };

  bool stopping() const { return server_stopping_ || server_.stopping; }
  bool current(uint64_t id) const { return !closed_ && id == exchange_id_; }

  void unregister() {
    if (!registered_) return;
    registered_ = false;
    server_.loop_sessions[loop_]--;
    server_.remove_session(id_);
  }

  // One deadline per connection, checked by a timer that is only re-armed when the deadline moves
  // earlier: a request's read, handling and write move it later and cost no timer operation.
  void arm(std::chrono::milliseconds d) {
    deadline_ = std::chrono::steady_clock::now() + d;
    if (timer_waiting_ && timer_.expiry() <= deadline_) return;  // wakes early, then waits on
    wait_timer();
  }
  void disarm() { deadline_ = std::chrono::steady_clock::time_point::max(); }
  void wait_timer() {
    timer_.expires_at(deadline_);
    if (timer_waiting_) return;  // the pending wait was cancelled by expires_at; its handler re-waits
    timer_waiting_ = true;
    timer_.async_wait([self = this->shared_from_this()](error_code ec) { self->on_timer(ec); });
  }
  void on_timer(error_code ec) {
    timer_waiting_ = false;
    if (closed_) return;
    if (ec && ec != asio::error::operation_aborted) return;
    if (deadline_ == std::chrono::steady_clock::time_point::max()) return;
    if (std::chrono::steady_clock::now() < deadline_) return wait_timer();
    if (linger_timer_) return close();
    if (state_ == State::kReading || state_ == State::kWriting || state_ == State::kStreaming)
      server_.counters.timeouts++;
    close();
  }

  void close() {
    if (closed_) return;
    auto keep = this->shared_from_this();
    closed_ = true;
    state_ = State::kClosing;
    disarm();
    timer_.cancel();
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
    unregister();
    fail_ops(make_error(Code::kCancelled, "the connection closed"));
    if (auto ex = exchange_.lock(); ex && !response_done_) {
      server_.counters.cancelled++;
      ex->cancel();
    }
    end_exchange();
  }

  void fail_ops(const Status& why) {
    auto ops = std::move(ops_);
    ops_.clear();
    for (auto& op : ops) {
      complete(op.piece.done, why);
      complete(op.finish_done, why);
    }
  }

  // The request's answer is complete (or abandoned): the connection stops holding it.
  void end_exchange() {
    if (pending_) {
      pending_ = false;
      server_.counters.pending--;
    }
    exchange_.reset();
    self_.reset();  // last: may destroy this session (`keep` in the callers holds it meanwhile)
  }

  // ---- reading requests

  void wait_for_request() {
    if (closed_) return;
    state_ = State::kIdle;
    if (stopping()) return close();
    if (buffer_.size() > 0) return read_header();  // pipelined bytes already here
    arm(server_.options.idle_timeout);
    watch_readable();
  }

  // One wait for readability at a time: between requests it starts the next read; while an answer
  // is pending it notices a client that hung up.
  void watch_readable() {
    if (watching_ || closed_) return;
    watching_ = true;
    socket_.async_wait(Socket::wait_read, [self = this->shared_from_this()](error_code ec) {
      self->watching_ = false;
      if (self->closed_) return;
      if (ec) return self->close();
      self->on_readable();
    });
  }

  void on_readable() {
    if (state_ == State::kIdle) return read_header();
    if (state_ == State::kReading || state_ == State::kClosing) return;
    // An answer is pending or being written: has the client hung up, or sent its next request?
    char c;
    ssize_t n = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return close();
    if (n < 0) return watch_readable();
    // Pipelined bytes: read once this answer is out (wait_for_request watches again).
  }

  void read_header() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    arm(server_.options.request_timeout);
    bhttp::async_read_header(socket_, buffer_, *parser_,
                             [self = this->shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, req.version());
      bhttp::async_write(socket_, *cont, [self = this->shared_from_this(), cont](error_code ec, size_t) {
        if (ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = this->shared_from_this()](error_code ec, size_t) { self->on_body(ec); });
  }

  void on_read_error(error_code ec) {
    if (closed_) return;  // timed out or stopped
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted)
      return close();
    server_.counters.bad++;
    unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    state_ = State::kHandling;  // write_whole() expects an exchange in progress
    if (ec == bhttp::error::body_limit)
      return write_whole(Response::error(413, fmt::format("request body is larger than the limit of {} bytes",
                                                          server_.options.max_body_bytes)),
                         false, version, false);
    if (ec == bhttp::error::header_limit)
      return write_whole(Response::error(431, fmt::format("request header is larger than the limit of {} bytes",
                                                          server_.options.max_header_bytes)),
                         false, version, false);
    return write_whole(Response::error(400, "malformed HTTP request: " + ec.message()), false, version, false);
  }

  void on_body(error_code ec) {
    if (ec) return on_read_error(ec);
    disarm();
    auto req = parser_->release();
    parser_.reset();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == bhttp::verb::head;
    chunked_ = false;
    finishing_ = false;
    body_left_.reset();
    queued_bytes_ = 0;
    response_done_ = false;
    server_.counters.requests++;

    auto ex = std::make_shared<Exchange>(this->weak_from_this(), server_.loop_handles[static_cast<size_t>(loop_)],
                                         ++exchange_id_);
    ex->request = to_request(std::move(req));
    exchange_ = ex;
    self_ = this->shared_from_this();
    state_ = State::kHandling;
    server_.loop_busy[loop_]++;
    server_.router.route(ex->request, Responder(ex));
    server_.loop_busy[loop_]--;
    // An answer still to come: watch for the client hanging up meanwhile.
    if (state_ == State::kHandling && !closed_) {
      pending_ = true;
      server_.counters.pending++;
      watch_readable();
    }
  }

  // ---- writing answers

  void write_whole(Response response, bool keep_alive, unsigned version, bool head) {
    if (closed_) return;
    state_ = State::kWriting;
    keep_alive = keep_alive && !stopping();
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
    bhttp::async_write(socket_, *res, [self = this->shared_from_this(), res, keep_alive](error_code ec, size_t) {
      if (ec) return self->close();
      self->answered(keep_alive);
    });
  }

  // The whole answer is out: next request, or close.
  void answered(bool keep_alive) {
    auto keep = this->shared_from_this();
    disarm();
    response_done_ = true;
    end_exchange();
    if (keep_alive) return wait_for_request();
    linger();
  }

  void run_next() {
    if (op_running_ || closed_ || ops_.empty()) return;
    Op& op = ops_.front();
    if (op.finish) return finish_body();
    if (head_) {  // HEAD: the body is never sent
      complete(op.piece.done, Status::ok());
      ops_.pop_front();
      return run_next();
    }
    op_running_ = true;
    arm(server_.options.write_timeout);
    if (op.piece.file.valid()) return send_file_piece();
    auto on_written = [self = this->shared_from_this()](error_code ec, size_t) { self->piece_written(ec); };
    if (op.piece.bytes.empty()) {
      op_running_ = false;
      return piece_written({});  // an empty chunk would end a chunked body
    }
    if (chunked_)
      asio::async_write(socket_, bhttp::make_chunk(asio::buffer(op.piece.bytes)), std::move(on_written));
    else
      asio::async_write(socket_, asio::buffer(op.piece.bytes), std::move(on_written));
  }

  void piece_written(error_code ec) {
    op_running_ = false;
    disarm();
    if (ec) return close();
    Op op = std::move(ops_.front());
    ops_.pop_front();
    if (!op.piece.file.valid()) queued_bytes_ -= op.piece.bytes.size();
    complete(op.piece.done, Status::ok());
    run_next();
  }

  // sendfile straight from the page cache; in a chunked body, framed by a chunk header and CRLF.
  void send_file_piece() {
    Op& op = ops_.front();
    if (chunked_ && !file_framed_) {
      file_framed_ = true;
      auto header = std::make_shared<std::string>(fmt::format("{:x}\r\n", op.piece.length));
      if (op.piece.length == 0) {
        file_framed_ = false;
        op_running_ = false;
        return piece_written({});
      }
      asio::async_write(socket_, asio::buffer(*header), [self = this->shared_from_this(), header](error_code ec, size_t) {
        if (ec) return self->close();
        self->send_file_piece();
      });
      return;
    }
    off_t off = static_cast<off_t>(op.piece.offset);
    while (op.piece.length > 0) {
      ssize_t n = ::sendfile(socket_.native_handle(), op.piece.file.get(), &off,
                             std::min<uint64_t>(op.piece.length, 1 << 30));
      if (n > 0) {
        op.piece.offset += static_cast<uint64_t>(n);
        op.piece.length -= static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        socket_.async_wait(Socket::wait_write, [self = this->shared_from_this()](error_code ec) {
          if (ec) return self->close();
          self->send_file_piece();
        });
        return;
      }
      // The file ended early or the socket failed: the body cannot be completed.
      Status why = n == 0 ? make_error(Code::kIo, "the file ended {} bytes early", op.piece.length)
                          : make_error(Code::kUnavailable, "sendfile: {}", std::strerror(errno));
      complete(op.piece.done, why);
      return close();
    }
    if (chunked_) {
      file_framed_ = false;
      static constexpr std::string_view kCrlf = "\r\n";
      asio::async_write(socket_, asio::buffer(kCrlf.data(), kCrlf.size()),
                        [self = this->shared_from_this()](error_code ec, size_t) { self->piece_written(ec); });
      return;
    }
    piece_written({});
  }

  void finish_body() {
    Op op = std::move(ops_.front());
    ops_.pop_front();
    if (body_left_ && *body_left_ > 0 && !head_) {
      complete(op.finish_done, make_error(Code::kInternal, "the body ended {} bytes short of its Content-Length",
                                          *body_left_));
      return close();
    }
    auto done = std::make_shared<WriteDone>(std::move(op.finish_done));
    auto finished = [self = this->shared_from_this(), done](error_code ec, size_t) {
      self->op_running_ = false;
      if (ec) {
        complete(*done, make_error(Code::kUnavailable, "writing the end of the body: {}", ec.message()));
        return self->close();
      }
      complete(*done, Status::ok());
      self->answered(self->keep_alive_ && !self->stopping());
    };
    if (chunked_ && !head_) {
      op_running_ = true;
      arm(server_.options.write_timeout);
      asio::async_write(socket_, bhttp::make_chunk_last(), std::move(finished));
      return;
    }
    if (!keep_alive_ && !body_left_ && !head_) {  // HTTP/1.0 stream: closing ends the body
      complete(*done, Status::ok());
      response_done_ = true;
      return linger();
    }
    finished({}, 0);
  }

  // Half-closes and reads what the client still sends for a moment, so an unread request body
  // does not turn our final response into a connection reset on the client's side.
  void linger() {
    state_ = State::kClosing;
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) return close();
    linger_timer_ = true;
    deadline_ = std::chrono::steady_clock::now() + kDrainTime;
    wait_timer();
    drain();
  }
  void drain() {
    if (!drain_buf_) drain_buf_ = std::make_unique<std::array<char, 16384>>();
    socket_.async_read_some(asio::buffer(*drain_buf_), [self = this->shared_from_this()](error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->closed_ || self->drained_ > kMaxDrainBytes) return self->close();
      self->drain();
    });
  }

  Socket socket_;
  asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor> timer_;
  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::unique_ptr<std::array<char, 16384>> drain_buf_;
  size_t drained_ = 0;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timer_waiting_ = false;
  bool linger_timer_ = false;
  uint64_t id_ = 0;
  int loop_ = 0;
  bool registered_ = false;
  bool closed_ = false;
  bool server_stopping_ = false;
  bool watching_ = false;
  State state_ = State::kIdle;

  // The exchange in progress.
  uint64_t exchange_id_ = 0;
  std::weak_ptr<Exchange> exchange_;
  std::shared_ptr<Session> self_;  // holds the connection while an answer is pending
  bool pending_ = false;
  bool response_done_ = false;
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned version_ = 11;
  // A streamed answer.
  bool chunked_ = false;
  bool finishing_ = false;
  bool op_running_ = false;
  bool file_framed_ = false;
  std::optional<uint64_t> body_left_;
  size_t queued_bytes_ = 0;
  std::deque<Op> ops_;
};

template <class Socket>
void start(Socket socket, Server::Impl& server, int index, bool reject) {
  if constexpr (std::is_same_v<typename Socket::protocol_type, asio::ip::tcp>) {
    error_code ec;
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
  }
  auto session = std::make_shared<Session<Socket>>(std::move(socket), server, index);
  if (reject)
    session->reject();
  else
    session->start();
}

}  // namespace

void start_session(SocketOn<asio::ip::tcp, IoExecutor> socket, Server::Impl& server, int index, bool reject) {
  start(std::move(socket), server, index, reject);
}
void start_session(SocketOn<asio::ip::tcp, StrandExecutor> socket, Server::Impl& server, int index, bool reject) {
  start(std::move(socket), server, index, reject);
}
void start_session(SocketOn<asio::local::stream_protocol, IoExecutor> socket, Server::Impl& server, int index,
                   bool reject) {
  start(std::move(socket), server, index, reject);
}
void start_session(SocketOn<asio::local::stream_protocol, StrandExecutor> socket, Server::Impl& server, int index,
                   bool reject) {
  start(std::move(socket), server, index, reject);
}

}  // namespace thaw::http
