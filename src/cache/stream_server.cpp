#include "cache/stream_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace thaw::cache {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

// A blocking socket as Beast's SyncReadStream; every read waits at most `timeout`.
class FdStream {
 public:
  FdStream(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    auto buf = *boost::asio::buffer_sequence_begin(buffers);
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (n == 0) {
      ec = boost::asio::error::timed_out;
      return 0;
    }
    ssize_t got = n < 0 ? -1 : ::recv(fd_, buf.data(), buf.size(), 0);
    if (got < 0) {
      ec = beast::error_code(errno, boost::system::system_category());
      return 0;
    }
    if (got == 0) {
      ec = boost::asio::error::eof;
      return 0;
    }
    ec = {};
    return static_cast<size_t>(got);
  }
  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  int fd_;
  std::chrono::milliseconds timeout_;
};

Status wait_writable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (n == 0) return make_error(Code::kDeadlineExceeded, "client stopped reading");
  if (n < 0 || (p.revents & (POLLERR | POLLHUP))) return make_error(Code::kUnavailable, "client went away");
  return Status::ok();
}

class SocketSink final : public BodySink {
 public:
  SocketSink(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  Status write(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        THAW_TRY(wait_writable(fd_, timeout_));
        continue;
      }
      if (n <= 0) return make_error(Code::kUnavailable, "sending: {}", std::strerror(errno));
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Status::ok();
  }
  Status send_file(int fd, uint64_t offset, uint64_t length) override {
    off_t off = static_cast<off_t>(offset);
    while (length > 0) {
      ssize_t n = ::sendfile(fd_, fd, &off, std::min<uint64_t>(length, 1 << 30));
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        THAW_TRY(wait_writable(fd_, timeout_));
        continue;
      }
      if (n < 0) return make_error(Code::kUnavailable, "sendfile: {}", std::strerror(errno));
      if (n == 0) return make_error(Code::kIo, "file ended {} bytes early", length);
      length -= static_cast<uint64_t>(n);
    }
    return Status::ok();
  }

 private:
  int fd_;
  std::chrono::milliseconds timeout_;
};

std::string reason(int status) {
  return std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(status)));
}

}  // namespace

Result<std::unique_ptr<StreamServer>> StreamServer::listen(StreamServerOptions options, StreamHandler handler) {
  if (options.listen.is_unix()) return make_error(Code::kUnsupported, "the cache listens on TCP only");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(options.listen.port);
  if (int rc = ::getaddrinfo(options.listen.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return make_error(Code::kInvalidArgument, "cannot resolve '{}': {}", options.listen.host, gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(Code::kIo, "socket: {}", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd.get(), 512) != 0)
    return make_error(Code::kUnavailable, "cannot listen on {}: {}", options.listen.to_string(), std::strerror(errno));
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  http::Endpoint ep = options.listen;
  ep.port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return std::unique_ptr<StreamServer>(new StreamServer(std::move(options), std::move(handler), std::move(fd), ep));
}

StreamServer::~StreamServer() { stop(); }

void StreamServer::start() { acceptor_ = std::thread([this] { accept_loop(); }); }

void StreamServer::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lock(mu_);
  for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
  cv_.wait_for(lock, 10s, [&] { return open_.empty(); });
}

void StreamServer::accept_loop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
      std::lock_guard lock(mu_);
      if (open_.size() >= options_.max_connections) {
        static constexpr std::string_view kBusy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 35\r\n"
            "Connection: close\r\n\r\n{\"error\": \"too many connections\"}\r\n";
        (void)::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
        continue;
      }
      open_.insert(fd);
    }
    std::thread([this, fd] {
      serve(fd);
      std::lock_guard lock(mu_);
      open_.erase(fd);
      ::close(fd);
      cv_.notify_all();
    }).detach();
  }
}

void StreamServer::serve(int fd) {
  FdStream stream(fd, options_.idle_timeout);
  beast::flat_buffer buffer;
  SocketSink sink(fd, options_.io_timeout);
  while (!stopping_.load()) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(options_.max_header_bytes);
    parser.body_limit(options_.max_body_bytes);
    beast::error_code ec;
    stream.set_timeout(options_.idle_timeout);
    bhttp::read_header(stream, buffer, parser, ec);
    if (!ec) {
      stream.set_timeout(options_.io_timeout);
      bhttp::read(stream, buffer, parser, ec);
    }
    if (ec) {
      if (ec == bhttp::error::header_limit || ec == bhttp::error::body_limit || ec.category() == beast::error_code(bhttp::error::bad_method).category()) {
        int status = ec == bhttp::error::header_limit ? 431 : ec == bhttp::error::body_limit ? 413 : 400;
        std::string body = fmt::format("{{\"error\": \"{}\"}}", ec == bhttp::error::body_limit ? "body too large" : "bad request");
        (void)sink.write(fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                                     "Connection: close\r\n\r\n{}", status, reason(status), body.size(), body));
      }
      return;
    }
    auto& msg = parser.get();
    http::Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
    for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    const bool keep_alive = msg.keep_alive();
    const bool head_only = req.method == "HEAD";

    StreamResponse resp = handler_(req);
    const bool streamed = static_cast<bool>(resp.body);
    uint64_t length = streamed ? resp.content_length : resp.head.body.size();
    std::string head = fmt::format("HTTP/1.1 {} {}\r\nServer: thaw\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                                   resp.head.status, reason(resp.head.status), resp.head.content_type, length);
    for (const auto& [k, v] : resp.head.headers) head += fmt::format("{}: {}\r\n", k, v);
    head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!head_only && !streamed) head += resp.head.body;
    if (!sink.write(head).is_ok()) return;
    if (!head_only && streamed && !resp.body(sink).is_ok()) return;  // cut: the client sees a short body
    if (!keep_alive) return;
  }
}

}  // namespace thaw::cache
