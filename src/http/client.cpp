#include "http/client.h"

#include <cstring>
#include <optional>

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
using Deadline = std::chrono::steady_clock::time_point;

struct Client::Impl {
  ClientOptions options;
  asio::io_context io{1};
  std::optional<tcp::socket> tcp_socket;
  std::optional<unix_proto::socket> unix_socket;
  beast::flat_buffer buffer;
  bool connected = false;
  // A streamed body (request_head): bytes still on the connection (after those in `buffer`), and
  // whether the connection stays open after them; or a chunked body read whole.
  uint64_t socket_body_left = 0;
  bool body_keep_alive = true;
  std::string whole_body;
  size_t whole_pos = 0;

  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  void close() {
    error_code ec;
    if (tcp_socket) tcp_socket->close(ec);
    if (unix_socket) unix_socket->close(ec);
    tcp_socket.reset();
    unix_socket.reset();
    buffer.clear();
    connected = false;
    socket_body_left = 0;
  }

  uint64_t body_left() const { return socket_body_left + (whole_body.size() - whole_pos); }

  // Before a new request: a body not read to its end leaves the connection unusable.
  void finish_body() {
    if (socket_body_left > 0) close();
    whole_body.clear();
    whole_pos = 0;
  }

  // Runs the I/O loop until `done` or the deadline; on the deadline the socket is closed and
  // the pending operation completes as aborted. Returns false on timeout.
  bool run_until(const bool& done, Deadline deadline) {
    io.restart();
    while (!done) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      io.run_one_for(deadline - now);
    }
    if (done) return true;
    error_code ec;
    if (tcp_socket) tcp_socket->close(ec);
    if (unix_socket) unix_socket->close(ec);
    io.restart();
    io.run();
    connected = false;
    return false;
  }

  Status connect(Deadline deadline) {
    close();
    const Endpoint& ep = options.endpoint;
    bool done = false;
    error_code result;
    auto on_connect = [&](error_code ec) {
      result = ec;
      done = true;
    };
    if (ep.is_unix()) {
      unix_socket.emplace(io);
      unix_socket->async_connect(unix_proto::endpoint(ep.unix_path), on_connect);
    } else {
      error_code ec;
      auto addr = asio::ip::make_address(ep.host, ec);
      tcp::endpoint target;
      if (ec) {
        tcp::resolver resolver(io);
        auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
        if (ec || results.empty())
          return make_error(Code::kUnavailable, "cannot resolve host '{}'", ep.host);
        target = results.begin()->endpoint();
      } else {
        target = tcp::endpoint(addr, ep.port);
      }
      tcp_socket.emplace(io);
      tcp_socket->async_connect(target, on_connect);
    }
    if (!run_until(done, deadline))
      return make_error(Code::kDeadlineExceeded, "connecting to {} timed out", ep.to_string());
    if (result) {
      close();
      return make_error(Code::kUnavailable, "connecting to {}: {}", ep.to_string(), result.message());
    }
    if (tcp_socket) tcp_socket->set_option(tcp::no_delay(true), result);
    connected = true;
    return Status::ok();
  }

  // Sends the request and reads the response's head into `parser` (bounded: header 1 MiB, a
  // Content-Length past max_response_bytes is kResourceExhausted). `*stale` is set when the
  // failure looks like a keep-alive connection the server had already closed.
  template <class Socket, class Parser>
  Status send_and_read_head(Socket& socket, bhttp::request<bhttp::string_body>& req, Parser& parser,
                            Deadline deadline, bool* stale) {
    *stale = false;
    const std::string where = options.endpoint.to_string();
    bool done = false;
    error_code result;
    bhttp::async_write(socket, req, [&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(done, deadline))
      return make_error(Code::kDeadlineExceeded, "sending to {} timed out", where);
    if (result) {
      *stale = true;
      return make_error(Code::kUnavailable, "sending to {}: {}", where, result.message());
    }
    parser.body_limit(options.max_response_bytes);
    parser.header_limit(1 << 20);
    if (req.method() == bhttp::verb::head) parser.skip(true);
    done = false;
    bhttp::async_read_header(socket, buffer, parser, [&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(done, deadline))
      return make_error(Code::kDeadlineExceeded, "waiting for {} timed out", where);
    // Beast 1.74's response parser does not enforce body_limit against Content-Length.
    if (!result && parser.content_length() && *parser.content_length() > options.max_response_bytes)
      result = bhttp::error::body_limit;
    return read_error(result, stale);
  }

  Status read_error(error_code result, bool* stale) {
    if (!result) return Status::ok();
    *stale = result == bhttp::error::end_of_stream || result == asio::error::connection_reset ||
             result == asio::error::eof;
    Code code = result == bhttp::error::body_limit ? Code::kResourceExhausted : Code::kUnavailable;
    return make_error(code, "reading the response from {}: {}", options.endpoint.to_string(), result.message());
  }

  template <class Fields>
  static ClientResponse head_of(const Fields& res) {
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res)
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    return out;
  }

  // Reads the rest of a message whose head `parser` holds.
  template <class Socket, class Parser>
  Status read_rest(Socket& socket, Parser& parser, Deadline deadline, bool* stale) {
    if (parser.is_done()) return Status::ok();
    bool done = false;
    error_code result;
    bhttp::async_read(socket, buffer, parser, [&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(done, deadline))
      return make_error(Code::kDeadlineExceeded, "waiting for {} timed out", options.endpoint.to_string());
    return read_error(result, stale);
  }

  // One request/response on the open connection. `*stale`: see send_and_read_head.
  template <class Socket>
  Result<ClientResponse> exchange(Socket& socket, bhttp::request<bhttp::string_body>& req,
                                  Deadline deadline, bool* stale) {
    bhttp::response_parser<bhttp::string_body> parser;
    THAW_TRY(send_and_read_head(socket, req, parser, deadline, stale));
    THAW_TRY(read_rest(socket, parser, deadline, stale));
    auto res = parser.release();
    ClientResponse out = head_of(res);
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return out;
  }

  // Sends the request and reads the response's head; the body is left for read_body().
  template <class Socket>
  Result<ClientResponse> exchange_head(Socket& socket, bhttp::request<bhttp::string_body>& req,
                                       Deadline deadline, bool* stale) {
    bhttp::response_parser<bhttp::empty_body> parser;
    THAW_TRY(send_and_read_head(socket, req, parser, deadline, stale));
    ClientResponse out = head_of(parser.get());
    body_keep_alive = parser.keep_alive();
    if (parser.is_done()) {
      if (!body_keep_alive) close();
      return out;
    }
    if (parser.content_length() && !parser.chunked()) {
      socket_body_left = *parser.content_length();
      return out;
    }
    // Chunked (or delimited by the connection's end): read it whole, bounded.
    bhttp::response_parser<bhttp::string_body> whole(std::move(parser));
    whole.body_limit(options.max_response_bytes);
    THAW_TRY(read_rest(socket, whole, deadline, stale));
    whole_body = std::move(whole.get().body());
    whole_pos = 0;
    if (!whole.keep_alive()) close();
    return out;
  }

  template <class Socket>
  Status read_socket_body(Socket& socket, std::span<std::byte> out) {
    const std::string where = options.endpoint.to_string();
    size_t done_bytes = asio::buffer_copy(asio::buffer(out.data(), out.size()), buffer.data());
    buffer.consume(done_bytes);
    if (done_bytes < out.size()) {
      bool done = false;
      error_code result;
      size_t got = 0;
      asio::async_read(socket, asio::buffer(out.data() + done_bytes, out.size() - done_bytes),
                       [&](error_code ec, size_t n) {
                         result = ec;
                         got = n;
                         done = true;
                       });
      if (!run_until(done, std::chrono::steady_clock::now() + options.timeout)) {
        close();
        return make_error(Code::kDeadlineExceeded, "reading the body from {} timed out", where);
      }
      if (result) {
        close();
        return make_error(Code::kUnavailable, "reading the body from {}: {} ({} bytes short)", where,
                          result.message(), out.size() - done_bytes - got);
      }
    }
    socket_body_left -= out.size();
    if (socket_body_left == 0 && !body_keep_alive) close();
    return Status::ok();
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::close() { impl_->close(); }

namespace {
bhttp::request<bhttp::string_body> make_request(const ClientOptions& options, std::string_view method,
                                                std::string_view target, const Headers& headers,
                                                std::string body) {
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(beast::string_view(target.data(), target.size()));
  req.set(bhttp::field::host, options.host_header.empty()
                                  ? (options.endpoint.is_unix() ? std::string("localhost")
                                                                : options.endpoint.to_string())
                                  : options.host_header);
  for (const auto& [k, v] : headers) req.insert(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}
}  // namespace

// One request on the open connection (or a new one); a keep-alive connection the server had closed
// meanwhile is reopened once. `head_only`: the body is left for read_body().
Result<ClientResponse> Client::send(std::string_view method, std::string_view target, const Headers& headers,
                                    std::string body, bool head_only) {
  Impl& c = *impl_;
  c.finish_body();
  Deadline deadline = std::chrono::steady_clock::now() + c.options.timeout;
  auto req = make_request(c.options, method, target, headers, std::move(body));
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = c.connected;
    if (!c.connected) THAW_TRY(c.connect(deadline));
    bool stale = false;
    auto exchange = [&](auto& socket) {
      return head_only ? c.exchange_head(socket, req, deadline, &stale) : c.exchange(socket, req, deadline, &stale);
    };
    Result<ClientResponse> r = c.tcp_socket ? exchange(*c.tcp_socket) : exchange(*c.unix_socket);
    if (r.is_ok()) return r;
    c.close();
    if (!(reused && stale)) return r;
  }
  return make_error(Code::kUnavailable, "connection to {} keeps closing",
                    c.options.endpoint.to_string());
}

Result<ClientResponse> Client::request(std::string_view method, std::string_view target,
                                       const Headers& headers, std::string body) {
  return send(method, target, headers, std::move(body), false);
}

Result<ClientResponse> Client::request_head(std::string_view method, std::string_view target,
                                            const Headers& headers) {
  return send(method, target, headers, {}, true);
}

uint64_t Client::body_left() const { return impl_->body_left(); }

Status Client::read_body(std::span<std::byte> out) {
  Impl& c = *impl_;
  if (out.size() > c.body_left())
    return make_error(Code::kInvalidArgument, "reading {} bytes of a body with {} left", out.size(), c.body_left());
  if (c.whole_pos < c.whole_body.size()) {
    std::memcpy(out.data(), c.whole_body.data() + c.whole_pos, out.size());
    c.whole_pos += out.size();
    return Status::ok();
  }
  if (out.empty()) return Status::ok();
  return c.tcp_socket ? c.read_socket_body(*c.tcp_socket, out) : c.read_socket_body(*c.unix_socket, out);
}

Result<ClientResponse> Client::post(std::string_view target, std::string body,
                                    std::string_view content_type, Headers headers) {
  headers.emplace_back("Content-Type", std::string(content_type));
  return request("POST", target, headers, std::move(body));
}

namespace {
// The Range header of bytes [offset, offset + length); kInvalidArgument for an empty range.
Status add_range(Headers& headers, uint64_t offset, uint64_t length) {
  if (length == 0) return make_error(Code::kInvalidArgument, "empty range");
  headers.emplace_back("Range", fmt::format("bytes={}-{}", offset, offset + length - 1));
  return Status::ok();
}
}  // namespace

Result<ClientResponse> Client::get_range(std::string_view target, uint64_t offset, uint64_t length,
                                         Headers headers) {
  THAW_TRY(add_range(headers, offset, length));
  return request("GET", target, headers);
}

Result<ClientResponse> Client::get_range_head(std::string_view target, uint64_t offset, uint64_t length,
                                              Headers headers) {
  THAW_TRY(add_range(headers, offset, length));
  return request_head("GET", target, headers);
}

}  // namespace thaw::http
