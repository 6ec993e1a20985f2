#include "http/client.h"

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

  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  void close() {
    error_code ec;
    if (tcp_socket) tcp_socket->close(ec);
    if (unix_socket) unix_socket->close(ec);
    tcp_socket.reset();
    unix_socket.reset();
    buffer.clear();
    connected = false;
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

  // One request/response on the open connection. `*stale` is set when the failure looks like a
  // keep-alive connection the server had already closed (nothing was read back).
  template <class Socket>
  Result<ClientResponse> exchange(Socket& socket, bhttp::request<bhttp::string_body>& req,
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
    bhttp::response_parser<bhttp::string_body> parser;
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
    if (!result && !parser.is_done()) {
      done = false;
      bhttp::async_read(socket, buffer, parser, [&](error_code ec, size_t) {
        result = ec;
        done = true;
      });
      if (!run_until(done, deadline))
        return make_error(Code::kDeadlineExceeded, "waiting for {} timed out", where);
    }
    if (result) {
      *stale = result == bhttp::error::end_of_stream || result == asio::error::connection_reset ||
               result == asio::error::eof;
      Code code = result == bhttp::error::body_limit ? Code::kResourceExhausted : Code::kUnavailable;
      return make_error(code, "reading the response from {}: {}", where, result.message());
    }
    auto res = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res)
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return out;
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::close() { impl_->close(); }

Result<ClientResponse> Client::request(std::string_view method, std::string_view target,
                                       const Headers& headers, std::string body) {
  Impl& c = *impl_;
  Deadline deadline = std::chrono::steady_clock::now() + c.options.timeout;
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(beast::string_view(target.data(), target.size()));
  req.set(bhttp::field::host, c.options.host_header.empty()
                                  ? (c.options.endpoint.is_unix() ? std::string("localhost")
                                                                  : c.options.endpoint.to_string())
                                  : c.options.host_header);
  for (const auto& [k, v] : headers) req.insert(k, v);
  req.body() = std::move(body);
  req.prepare_payload();

  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = c.connected;
    if (!c.connected) THAW_TRY(c.connect(deadline));
    bool stale = false;
    Result<ClientResponse> r = c.tcp_socket ? c.exchange(*c.tcp_socket, req, deadline, &stale)
                                            : c.exchange(*c.unix_socket, req, deadline, &stale);
    if (r.is_ok()) return r;
    c.close();
    if (!(reused && stale)) return r;
  }
  return make_error(Code::kUnavailable, "connection to {} keeps closing",
                    c.options.endpoint.to_string());
}

Result<ClientResponse> Client::post(std::string_view target, std::string body,
                                    std::string_view content_type, Headers headers) {
  headers.emplace_back("Content-Type", std::string(content_type));
  return request("POST", target, headers, std::move(body));
}

Result<ClientResponse> Client::get_range(std::string_view target, uint64_t offset, uint64_t length,
                                         Headers headers) {
  if (length == 0) return make_error(Code::kInvalidArgument, "empty range");
  headers.emplace_back("Range", fmt::format("bytes={}-{}", offset, offset + length - 1));
  return request("GET", target, headers);
}

}  // namespace thaw::http
