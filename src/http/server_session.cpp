// One server connection: reads requests through the strict RequestParser, hands each to the router
// with a Responder, and writes the answer whenever it comes (whole, or streamed with
// back-pressure). While an answer is pending it keeps watching the socket, so a client that hangs
// up cancels its request. The same code serves plain and TLS sockets.
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "http/exchange.h"
#include "http/request_parser.h"
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
constexpr size_t kReadSize = 16 << 10;
constexpr size_t kTlsFileBlock = 256 << 10;       // sendfile cannot encrypt: files go through a buffer
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
using Clock = std::chrono::steady_clock;

template <class Socket>
struct IsTls : std::false_type {};
template <class Next>
struct IsTls<asio::ssl::stream<Next>> : std::true_type {};

// "203.0.113.7:50412", "[::1]:4000", "unix".
template <class Raw>
std::string remote_of(Raw& raw) {
  if constexpr (std::is_same_v<typename Raw::protocol_type, asio::ip::tcp>) {
    error_code ec;
    auto ep = raw.remote_endpoint(ec);
    if (ec) return "-";
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) a = a.to_v6().to_v4();
    return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), ep.port()) : fmt::format("{}:{}", a.to_string(), ep.port());
  } else {
    return "unix";
  }
}

// The subject of a verified client certificate, "" when none.
std::string peer_subject(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  X509_free(cert);
  return buf;
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
  static constexpr bool kTls = IsTls<Socket>::value;

  // `keep` lives as long as the socket (the TLS context it was made from).
  Session(Socket socket, Server::Impl& server, int loop, PeerLimit::Slot slot, std::shared_ptr<void> keep = {})
      : keep_(std::move(keep)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        server_(server),
        slot_(std::move(slot)),
        parser_(ParserLimits{.max_header_bytes = server.options.max_header_bytes,
                             .max_body_bytes = server.options.max_body_bytes}),
        accepted_at_(Clock::now()),
        log_(server.options.request_log.get()) {
    loop_ = loop;
    remote_ = remote_of(raw());
  }
  ~Session() override { unregister(); }

  void start() {
    id_ = server_.add_session(this->weak_from_this());
    registered_ = true;
    server_.loop_sessions[loop_]++;  // a rejected connection never counts, so never uncounts
    if constexpr (kTls) {
      arm_at(accepted_at_ + server_.options.header_timeout);
      socket_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
        if (self->closed_) return;
        if (ec) {
          self->server_.counters.tls_failures++;
          return self->close();
        }
        self->peer_cert_ = peer_subject(self->socket_.native_handle());
        self->wait_for_request();
      });
      return;
    }
    wait_for_request();
  }

  // Over a connection cap: answer 503 and close without reading (a TLS client, which would need a
  // handshake first, only sees the close).
  void reject(const char* why) {
    asio::dispatch(socket_.get_executor(), [self = this->shared_from_this(), why] {
      if constexpr (kTls) return self->close();
      self->state_ = State::kHandling;
      Response r = Response::error(503, why);
      r.headers.emplace_back("Retry-After", "1");
      self->write_whole(std::move(r), false, 11, false);
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

  void ex_set_user(uint64_t id, std::string user) override {
    if (current(id) && log_) log_user_ = std::move(user);
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
    log_status_ = head.status;
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
    log_bytes_ += size;
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
  auto& raw() { return beast::get_lowest_layer(socket_); }
  bool current(uint64_t id) const { return !closed_ && id == exchange_id_; }

  void unregister() {
    if (!registered_) return;
    registered_ = false;
    server_.loop_sessions[loop_]--;
    server_.remove_session(id_);
  }

  // One deadline per connection, checked by a timer that is only re-armed when the deadline moves
  // earlier: a request's read, handling and write move it later and cost no timer operation.
  void arm(std::chrono::milliseconds d) { arm_at(Clock::now() + d); }
  void arm_at(Clock::time_point deadline) {
    deadline_ = deadline;
    if (timer_waiting_ && timer_.expiry() <= deadline_) return;  // wakes early, then waits on
    wait_timer();
  }
  void disarm() { deadline_ = Clock::time_point::max(); }
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
    if (deadline_ == Clock::time_point::max()) return;
    if (Clock::now() < deadline_) return wait_timer();
    if (linger_timer_) return close();
    if (state_ == State::kReading || state_ == State::kWriting || state_ == State::kStreaming)
      server_.counters.timeouts++;
    if (state_ == State::kReading) log_done(408);
    close();
  }

  void close() {
    if (closed_) return;
    auto keep = this->shared_from_this();
    const bool between_requests = state_ == State::kIdle || (state_ == State::kReading && parser_.idle());
    closed_ = true;
    state_ = State::kClosing;
    disarm();
    timer_.cancel();
    error_code ec;
    raw().shutdown(asio::socket_base::shutdown_both, ec);
    raw().close(ec);
    unregister();
    fail_ops(make_error(Code::kCancelled, "the connection closed"));
    if (auto ex = exchange_.lock(); ex && !response_done_) {
      server_.counters.cancelled++;
      ex->cancel();
    }
    // A connection that closes between requests logs nothing; one that closes mid-request, 499.
    if (logging_ && !between_requests) log_done(499);
    logging_ = false;
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
    if (buffer_.size() > 0) return read_request();  // pipelined bytes already here
    // The first request's head is due header_timeout after the connection started.
    arm_at(first_request_ ? accepted_at_ + server_.options.header_timeout : Clock::now() + server_.options.idle_timeout);
    // A TLS stream may hold decrypted bytes the socket no longer shows: read rather than wait.
    if constexpr (kTls) return read_more();
    watch_readable();
  }

  // One wait for readability at a time: between requests it starts the next read; while an answer
  // is pending it notices a client that hung up.
  void watch_readable() {
    if (watching_ || closed_) return;
    watching_ = true;
    raw().async_wait(asio::socket_base::wait_read, [self = this->shared_from_this()](error_code ec) {
      self->watching_ = false;
      if (self->closed_) return;
      if (ec) return self->close();
      self->on_readable();
    });
  }

  void on_readable() {
    if (state_ == State::kIdle) return read_request();
    if (state_ == State::kReading || state_ == State::kClosing) return;
    // An answer is pending or being written: has the client hung up, or sent its next request?
    char c;
    ssize_t n = ::recv(raw().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return close();
    if (n < 0) return watch_readable();
    // Pipelined bytes: read once this answer is out (wait_for_request watches again).
  }

  // A request's first bytes are here (or about to be read).
  void read_request() {
    state_ = State::kReading;
    parser_.reset();
    const Clock::time_point now = Clock::now();
    request_start_ = now;
    head_deadline_ = (first_request_ ? accepted_at_ : now) + server_.options.header_timeout;
    request_deadline_ = now + server_.options.request_timeout;
    if (log_) begin_log();
    parse_buffered();
  }

  void parse_buffered() {
    auto data = buffer_.data();
    const size_t used = parser_.feed(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer_.consume(used);
    if (parser_.failed()) return refuse(parser_.error());
    if (log_ && parser_.head_done() && log_method_.empty()) note_head();
    if (parser_.done()) return on_request();
    if (parser_.expects_continue() && !continued_) {
      continued_ = true;
      arm_at(std::min(request_deadline_, Clock::now() + server_.options.write_timeout));
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](error_code ec, size_t) {
                          if (ec) return self->close();
                          self->read_more();
                        });
      return;
    }
    read_more();
  }

  void read_more() {
    // The head has its own deadline; a body may pause body_timeout between reads; the whole
    // request has request_timeout.
    if (state_ == State::kReading)
      arm_at(parser_.head_done() ? std::min(request_deadline_, Clock::now() + server_.options.body_timeout)
                                 : std::min(request_deadline_, head_deadline_));
    auto space = buffer_.prepare(kReadSize);
    socket_.async_read_some(space, [self = this->shared_from_this()](error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(error_code ec, size_t n) {
    if (closed_) return;
    if (ec) return close();  // the client hung up or the connection broke: nothing to answer
    buffer_.commit(n);
    if (state_ == State::kIdle) return read_request();  // TLS: the next request's first bytes
    parse_buffered();
  }

  // Malformed, ambiguous or oversized: answer and close (the rest of the stream cannot be trusted).
  void refuse(const ParseError& error) {
    server_.counters.bad++;
    state_ = State::kHandling;  // write_whole() expects an exchange in progress
    // The log names what it can: the request line, when it was read.
    if (log_ && log_method_.empty() && !parser_.request().method.empty()) note_head();
    write_whole(Response::error(error.status, error.status == 400 ? "malformed HTTP request: " + error.message
                                                                  : error.message),
                false, parser_.head_done() ? parser_.version() : 11, false);
  }

  void on_request() {
    disarm();
    first_request_ = false;
    continued_ = false;
    keep_alive_ = parser_.keep_alive();
    version_ = parser_.version();
    chunked_ = false;
    finishing_ = false;
    body_left_.reset();
    queued_bytes_ = 0;
    response_done_ = false;
    server_.counters.requests++;

    auto ex = std::make_shared<Exchange>(this->weak_from_this(), server_.loop_handles[static_cast<size_t>(loop_)],
                                         ++exchange_id_);
    ex->request = std::move(parser_.request());
    ex->request.remote = remote_;
    head_ = ex->request.method == "HEAD";
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

  // ---- the request log (only with ServerOptions::request_log)

  void begin_log() {
    logging_ = true;
    log_method_.clear();
    log_target_.clear();
    log_agent_.clear();
    log_user_.clear();
    log_status_ = 0;
    log_bytes_ = 0;
  }
  void note_head() {
    Request& r = parser_.request();
    log_method_ = r.method;
    log_target_ = r.target;
    if (auto ua = r.header("User-Agent")) log_agent_ = std::string(*ua);
  }
  void log_done(int status_if_unanswered) {
    if (!logging_ || !log_) return;
    logging_ = false;
    RequestRecord r;
    r.remote = remote_;
    r.user = log_user_;
    r.peer_cert = peer_cert_;
    r.method = log_method_;
    r.target = log_target_;
    r.version = parser_.head_done() ? parser_.version() : version_;
    r.status = log_status_ != 0 ? log_status_ : status_if_unanswered;
    r.bytes = log_bytes_;
    r.duration = Clock::now() - request_start_;
    r.user_agent = log_agent_;
    log_->record(r);
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
    log_status_ = response.status;
    log_bytes_ = head ? 0 : response.body.size();
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
    if (logging_) log_done(0);
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
  // Over TLS the bytes go through a buffer instead.
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
    if constexpr (kTls) return send_file_block();
    off_t off = static_cast<off_t>(op.piece.offset);
    while (op.piece.length > 0) {
      ssize_t n = ::sendfile(raw().native_handle(), op.piece.file.get(), &off,
                             std::min<uint64_t>(op.piece.length, 1 << 30));
      if (n > 0) {
        op.piece.offset += static_cast<uint64_t>(n);
        op.piece.length -= static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        raw().async_wait(asio::socket_base::wait_write, [self = this->shared_from_this()](error_code ec) {
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
    end_file_piece();
  }

  void end_file_piece() {
    if (chunked_) {
      file_framed_ = false;
      static constexpr std::string_view kCrlf = "\r\n";
      asio::async_write(socket_, asio::buffer(kCrlf.data(), kCrlf.size()),
                        [self = this->shared_from_this()](error_code ec, size_t) { self->piece_written(ec); });
      return;
    }
    piece_written({});
  }

  // TLS: a block of the file read into memory and written through the stream.
  void send_file_block() {
    Op& op = ops_.front();
    if (op.piece.length == 0) {
      file_block_.reset();
      return end_file_piece();
    }
    if (!file_block_) file_block_ = std::make_unique<std::string>();
    file_block_->resize(static_cast<size_t>(std::min<uint64_t>(op.piece.length, kTlsFileBlock)));
    ssize_t n = ::pread(op.piece.file.get(), file_block_->data(), file_block_->size(), static_cast<off_t>(op.piece.offset));
    if (n <= 0) {
      complete(op.piece.done, n == 0 ? make_error(Code::kIo, "the file ended {} bytes early", op.piece.length)
                                     : make_error(Code::kIo, "reading the file: {}", std::strerror(errno)));
      return close();
    }
    op.piece.offset += static_cast<uint64_t>(n);
    op.piece.length -= static_cast<uint64_t>(n);
    arm(server_.options.write_timeout);
    asio::async_write(socket_, asio::buffer(file_block_->data(), static_cast<size_t>(n)),
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        if (ec) return self->close();
                        self->send_file_block();
                      });
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
    linger_timer_ = true;
    deadline_ = Clock::now() + kDrainTime;
    wait_timer();
    if constexpr (kTls) {
      // close_notify, then the peer's, within the drain time.
      socket_.async_shutdown([self = this->shared_from_this()](error_code) { self->close(); });
      return;
    }
    error_code ec;
    raw().shutdown(asio::socket_base::shutdown_send, ec);
    if (ec) return close();
    drain();
  }
  void drain() {
    if (!drain_buf_) drain_buf_ = std::make_unique<std::array<char, 16384>>();
    raw().async_read_some(asio::buffer(*drain_buf_), [self = this->shared_from_this()](error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->closed_ || self->drained_ > kMaxDrainBytes) return self->close();
      self->drain();
    });
  }

  std::shared_ptr<void> keep_;  // before socket_: outlives it
  Socket socket_;
  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor> timer_;
  Server::Impl& server_;
  PeerLimit::Slot slot_;
  beast::flat_buffer buffer_;
  RequestParser parser_;
  std::unique_ptr<std::array<char, 16384>> drain_buf_;
  std::unique_ptr<std::string> file_block_;
  // Deadlines of the request being read.
  Clock::time_point accepted_at_, request_start_, head_deadline_, request_deadline_;
  bool first_request_ = true;
  bool continued_ = false;
  // The request log's record of the request in progress.
  RequestLog* log_ = nullptr;
  bool logging_ = false;
  std::string remote_, peer_cert_, log_method_, log_target_, log_agent_, log_user_;
  int log_status_ = 0;
  uint64_t log_bytes_ = 0;
  size_t drained_ = 0;
  Clock::time_point deadline_ = Clock::time_point::max();
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
void start_plain(Socket socket, Server::Impl& server, int index, Admission a, std::shared_ptr<void> keep = {}) {
  auto session = std::make_shared<Session<Socket>>(std::move(socket), server, index, std::move(a.slot), std::move(keep));
  if (a.reject)
    session->reject(a.reject);
  else
    session->start();
}

template <class Socket>
void start(Socket socket, Server::Impl& server, int index, Admission a) {
  if constexpr (std::is_same_v<typename Socket::protocol_type, asio::ip::tcp>) {
    error_code ec;
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    if (server.options.tls) {
      std::shared_ptr<asio::ssl::context> ctx = server.options.tls->current();
      asio::ssl::stream<Socket> stream(std::move(socket), *ctx);
      return start_plain(std::move(stream), server, index, std::move(a), std::move(ctx));
    }
  }
  start_plain(std::move(socket), server, index, std::move(a));
}

}  // namespace

void start_session(SocketOn<asio::ip::tcp, IoExecutor> socket, Server::Impl& server, int index, Admission a) {
  start(std::move(socket), server, index, std::move(a));
}
void start_session(SocketOn<asio::ip::tcp, StrandExecutor> socket, Server::Impl& server, int index, Admission a) {
  start(std::move(socket), server, index, std::move(a));
}
void start_session(SocketOn<asio::local::stream_protocol, IoExecutor> socket, Server::Impl& server, int index,
                   Admission a) {
  start(std::move(socket), server, index, std::move(a));
}
void start_session(SocketOn<asio::local::stream_protocol, StrandExecutor> socket, Server::Impl& server, int index,
                   Admission a) {
  start(std::move(socket), server, index, std::move(a));
}

}  // namespace thaw::http
