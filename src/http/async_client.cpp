#include "http/async_client.h"

#include <array>
#include <stdexcept>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/loop_impl.h"

namespace thaw::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;

namespace {
constexpr size_t kPieceBytes = 64 << 10;
// Concrete executor types: a type-erased one would cost every asynchronous operation.
using IoExecutor = asio::io_context::executor_type;
using TcpSocket = asio::basic_stream_socket<tcp, IoExecutor>;
using UnixSocket = asio::basic_stream_socket<unix_proto, IoExecutor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, IoExecutor>;
}  // namespace

struct AsyncClient::Impl {
  Loop loop;
  AsyncClientOptions options;
  std::optional<IoExecutor> executor;
  std::optional<TcpSocket> tcp_socket;
  std::optional<UnixSocket> unix_socket;
  std::optional<Timer> timer;
  beast::flat_buffer buffer;
  bool connected = false;
  bool keep_alive = false;
  bool busy = false;
  bool timer_waiting = false;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint64_t gen = 0;  // bumped when an exchange ends: late completions of it are ignored

  // The exchange in progress.
  bhttp::request<bhttp::string_body> req;
  StreamCallbacks callbacks;
  bool reused = false, retried = false;
  std::optional<bhttp::response_parser<bhttp::empty_body>> head_parser;
  std::optional<bhttp::response_parser<bhttp::string_body>> whole_parser;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> stream_parser;
  std::unique_ptr<std::array<char, kPieceBytes>> piece;

  std::string where() const { return options.endpoint.to_string(); }

  template <class Fn>
  void with_socket(Fn&& fn) {
    if (tcp_socket)
      fn(*tcp_socket);
    else
      fn(*unix_socket);
  }

  void close_socket() {
    error_code ec;
    if (tcp_socket) tcp_socket->close(ec);
    if (unix_socket) unix_socket->close(ec);
    tcp_socket.reset();
    unix_socket.reset();
    buffer.clear();
    connected = false;
  }
};

std::shared_ptr<AsyncClient> AsyncClient::create(Loop loop, AsyncClientOptions options) {
  std::shared_ptr<AsyncClient> c(new AsyncClient());
  c->impl_ = std::make_unique<Impl>();
  Impl& i = *c->impl_;
  // A loop of a server or a LoopThread: an io_context run by one thread.
  const IoExecutor* io = loop.impl()->executor.target<IoExecutor>();
  if (io == nullptr) throw std::invalid_argument("AsyncClient needs a loop run by one io_context thread");
  i.executor.emplace(*io);
  i.loop = std::move(loop);
  i.options = std::move(options);
  i.timer.emplace(*i.executor);
  return c;
}

AsyncClient::~AsyncClient() {
  if (impl_) impl_->close_socket();
}

const Endpoint& AsyncClient::endpoint() const { return impl_->options.endpoint; }

bool AsyncClient::reusable() const { return impl_->connected && impl_->keep_alive && !impl_->busy; }

namespace {

// The steps of one exchange, as free functions over the client so completions can hold it alive.
struct Steps {
  // The exchange's deadline, kept by one timer that is re-armed only when the deadline moves
  // earlier (a kept-alive connection's next exchange moves it later: no timer operation).
  static void arm(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    c.deadline = std::chrono::steady_clock::now() + c.options.timeout;
    if (c.timer_waiting && c.timer->expiry() <= c.deadline) return;
    c.timer->expires_at(c.deadline);
    if (c.timer_waiting) return;  // the cancelled wait's handler waits again
    wait_timer(self, c);
  }
  static void wait_timer(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    c.timer_waiting = true;
    c.timer->async_wait([self, &c](error_code) {
      c.timer_waiting = false;
      if (!c.busy || c.deadline == std::chrono::steady_clock::time_point::max()) return;
      if (std::chrono::steady_clock::now() < c.deadline) {
        c.timer->expires_at(c.deadline);
        return wait_timer(self, c);
      }
      fail(c, make_error(Code::kDeadlineExceeded, "no answer from {} within {} ms", c.where(), c.options.timeout.count()));
    });
  }
  static void disarm(AsyncClient::Impl& c) { c.deadline = std::chrono::steady_clock::time_point::max(); }

  static void fail(AsyncClient::Impl& c, Status why) {
    ++c.gen;
    disarm(c);
    c.close_socket();
    c.busy = false;
    auto cb = std::move(c.callbacks);
    c.callbacks = {};
    if (cb.on_done) cb.on_done(std::move(why));  // cb.owner keeps the consumer alive through it
  }

  static void finish(AsyncClient::Impl& c) {
    ++c.gen;
    disarm(c);
    c.busy = false;
    if (!c.keep_alive) c.close_socket();
    auto cb = std::move(c.callbacks);
    c.callbacks = {};
    if (cb.on_done) cb.on_done(Status::ok());
  }

  // A kept-alive connection the server closed while idle fails before any answer byte: reopen
  // and resend once.
  static bool retry_stale(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c, bool nothing_received) {
    if (!c.reused || c.retried || !nothing_received) return false;
    c.retried = true;
    c.reused = false;
    ++c.gen;
    c.close_socket();
    connect(self, c);
    return true;
  }

  static void connect(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    const Endpoint& ep = c.options.endpoint;
    const uint64_t g = c.gen;
    auto on_connect = [self, &c, g](error_code ec) {
      if (g != c.gen) return;
      if (ec) return fail(c, make_error(Code::kUnavailable, "connecting to {}: {}", c.where(), ec.message()));
      if (c.tcp_socket) {
        error_code ignored;
        c.tcp_socket->set_option(tcp::no_delay(true), ignored);
      }
      c.connected = true;
      send(self, c);
    };
    if (ep.is_unix()) {
      c.unix_socket.emplace(*c.executor);
      c.unix_socket->async_connect(unix_proto::endpoint(ep.unix_path), std::move(on_connect));
      return;
    }
    error_code ec;
    auto addr = asio::ip::make_address(ep.host, ec);
    if (ec) {
      // A host name: resolved here once per connection (the gateway's upstreams are addresses).
      asio::ip::basic_resolver<tcp, IoExecutor> resolver(*c.executor);
      auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
      if (ec || results.empty())
        return fail(c, make_error(Code::kUnavailable, "cannot resolve host '{}'", ep.host));
      addr = results.begin()->endpoint().address();
    }
    c.tcp_socket.emplace(*c.executor);
    c.tcp_socket->async_connect(tcp::endpoint(addr, ep.port), std::move(on_connect));
  }

  static void send(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    const uint64_t g = c.gen;
    c.with_socket([&](auto& socket) {
      bhttp::async_write(socket, c.req, [self, &c, g](error_code ec, size_t) {
        if (g != c.gen) return;
        if (ec) {
          if (retry_stale(self, c, true)) return;
          return fail(c, make_error(Code::kUnavailable, "sending to {}: {}", c.where(), ec.message()));
        }
        read_head(self, c);
      });
    });
  }

  static void read_head(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    const uint64_t g = c.gen;
    c.head_parser.emplace();
    c.head_parser->header_limit(1 << 20);
    if (c.req.method() == bhttp::verb::head) c.head_parser->skip(true);
    c.with_socket([&](auto& socket) {
      bhttp::async_read_header(socket, c.buffer, *c.head_parser, [self, &c, g](error_code ec, size_t n) {
        if (g != c.gen) return;
        if (ec) {
          const bool closed = ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                              ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
          if (closed && retry_stale(self, c, n == 0)) return;
          return fail(c, make_error(Code::kUnavailable, "reading the response from {}: {}", c.where(), ec.message()));
        }
        on_head(self, c);
      });
    });
  }

  static void on_head(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    auto& res = c.head_parser->get();
    ClientHead head;
    head.status = static_cast<int>(res.result_int());
    for (const auto& field : res) head.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    if (auto cl = c.head_parser->content_length()) head.content_length = *cl;
    head.chunked = c.head_parser->chunked();
    c.keep_alive = res.keep_alive();
    const bool done = c.head_parser->is_done();
    head.whole = done || (head.content_length && *head.content_length <= c.options.whole_body_limit);
    if (head.content_length && *head.content_length > c.options.max_response_bytes)
      return fail(c, make_error(Code::kResourceExhausted, "the response from {} is {} bytes, over the limit of {}",
                                c.where(), *head.content_length, c.options.max_response_bytes));
    if (c.callbacks.on_head) c.callbacks.on_head(head);
    if (!c.busy) return;  // the callback cancelled
    if (done) {
      std::string empty;
      return deliver_last(self, c, empty);
    }
    // Beast reads as much as the buffer has room for, and at least 512 bytes: a large body through
    // a small buffer costs a system call and, streamed, a round trip to the client per 512 bytes.
    if ((!head.content_length || *head.content_length > 4096) && c.buffer.capacity() < kPieceBytes)
      c.buffer.reserve(kPieceBytes);
    if (head.whole) {
      c.whole_parser.emplace(std::move(*c.head_parser));
      c.head_parser.reset();
      c.whole_parser->body_limit(c.options.max_response_bytes);
      const uint64_t g = c.gen;
      c.with_socket([&](auto& socket) {
        bhttp::async_read(socket, c.buffer, *c.whole_parser, [self, &c, g](error_code ec, size_t) {
          if (g != c.gen) return;
          if (ec)
            return fail(c, make_error(Code::kUnavailable, "reading the response from {}: {}", c.where(), ec.message()));
          std::string body = std::move(c.whole_parser->get().body());
          c.whole_parser.reset();
          deliver_last(self, c, body);
        });
      });
      return;
    }
    c.stream_parser.emplace(std::move(*c.head_parser));
    c.head_parser.reset();
    c.stream_parser->body_limit(boost::none);
    if (!c.piece) c.piece = std::make_unique<std::array<char, kPieceBytes>>();
    read_piece(self, c);
  }

  // The last piece, then the end: nothing more is read, so it needs no back-pressure (a consumer
  // that writes it on queues its end behind it).
  static void deliver_last(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c, std::string& body) {
    (void)self;
    disarm(c);
    const uint64_t g = c.gen;
    if (c.callbacks.on_data) c.callbacks.on_data(body, [] {});
    if (g == c.gen) finish(c);  // unless the consumer cancelled meanwhile
  }

  static void read_piece(const std::shared_ptr<AsyncClient>& self, AsyncClient::Impl& c) {
    auto& body = c.stream_parser->get().body();
    body.data = c.piece->data();
    body.size = c.piece->size();
    const uint64_t g = c.gen;
    arm(self, c);
    c.with_socket([&](auto& socket) {
      bhttp::async_read_some(socket, c.buffer, *c.stream_parser, [self, &c, g](error_code ec, size_t) {
        if (g != c.gen) return;
        if (ec && ec != bhttp::error::need_buffer)
          return fail(c, make_error(Code::kUnavailable, "reading the response from {}: {}", c.where(), ec.message()));
        const size_t got = c.piece->size() - c.stream_parser->get().body().size;
        std::string piece(c.piece->data(), got);
        if (c.stream_parser->is_done()) {
          c.stream_parser.reset();
          return deliver_last(self, c, piece);
        }
        if (got == 0) return read_piece(self, c);
        disarm(c);
        if (!c.callbacks.on_data) return read_piece(self, c);
        c.callbacks.on_data(piece, [self, &c, g] {
          if (g == c.gen) read_piece(self, c);
        });
      });
    });
  }
};

}  // namespace

void AsyncClient::stream(ClientRequest request, StreamCallbacks callbacks) {
  Impl& c = *impl_;
  if (c.busy) {
    if (callbacks.on_done) callbacks.on_done(make_error(Code::kInternal, "the client already has an exchange"));
    return;
  }
  c.busy = true;
  ++c.gen;
  c.callbacks = std::move(callbacks);
  c.req = {};
  c.req.version(11);
  c.req.method_string(request.method);
  c.req.target(request.target);
  c.req.set(bhttp::field::host, c.options.host_header.empty()
                                    ? (c.options.endpoint.is_unix() ? std::string("localhost") : c.where())
                                    : c.options.host_header);
  for (auto& [k, v] : request.headers) c.req.insert(k, v);
  c.req.body() = std::move(request.body);
  c.req.prepare_payload();
  c.reused = c.connected;
  c.retried = false;
  auto self = shared_from_this();
  Steps::arm(self, c);  // connect, send, the head and a whole body share one deadline
  if (c.connected)
    Steps::send(self, c);
  else
    Steps::connect(self, c);
}

void AsyncClient::request(ClientRequest request, std::function<void(Result<ClientResponse>)> done) {
  auto out = std::make_shared<ClientResponse>();
  const uint64_t limit = impl_->options.max_response_bytes;
  StreamCallbacks cb;
  cb.on_head = [out](ClientHead& head) {
    out->status = head.status;
    out->headers = std::move(head.headers);
  };
  std::weak_ptr<AsyncClient> weak = weak_from_this();
  cb.on_data = [out, limit, weak](std::string& piece, std::function<void()> more) {
    if (out->body.size() + piece.size() > limit) {
      if (auto self = weak.lock())
        Steps::fail(*self->impl_, make_error(Code::kResourceExhausted, "the response is over the limit of {} bytes", limit));
      return;
    }
    if (out->body.empty())
      out->body = std::move(piece);
    else
      out->body += piece;
    more();
  };
  cb.on_done = [out, done = std::move(done)](Status s) {
    if (!s.is_ok()) return done(std::move(s));
    done(std::move(*out));
  };
  stream(std::move(request), std::move(cb));
}

void AsyncClient::cancel() {
  if (impl_->busy) Steps::fail(*impl_, make_error(Code::kCancelled, "the request to {} was cancelled", impl_->where()));
}

}  // namespace thaw::http
