// Raw sockets for tests that must misbehave the way real clients do (slow, malformed).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/unique_fd.h"
#include "http/client.h"
#include "http/endpoint.h"
#include "http/server.h"

namespace thaw::http::testing {

// A blocking socket with a receive guard so a broken server fails the test instead of hanging it.
class RawConnection {
 public:
  explicit RawConnection(const Endpoint& ep, int recv_guard_seconds = 20) {
    if (ep.is_unix()) {
      fd_.reset(::socket(AF_UNIX, SOCK_STREAM, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      ep.unix_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
      connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    } else {
      fd_.reset(::socket(AF_INET, SOCK_STREAM, 0));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(ep.port);
      ::inet_pton(AF_INET, ep.host.c_str(), &addr.sin_addr);
      connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    timeval tv{recv_guard_seconds, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  bool connected() const { return connected_; }
  bool send(const std::string& data) {
    return ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads until the peer closes (returns everything read and sets closed=true) or until the guard
  // fires (closed=false).
  std::string read_until_close(bool* closed) {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
      if (n > 0) {
        out.append(buf, n);
        continue;
      }
      *closed = n == 0 || errno == ECONNRESET;
      return out;
    }
  }
  // Reads until `marker` appears (or close / guard).
  std::string read_until(const std::string& marker) {
    std::string out;
    char buf[4096];
    while (out.find(marker) == std::string::npos) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, n);
    }
    return out;
  }

 private:
  UniqueFd fd_;
  bool connected_ = false;
};

// Listens and starts serving `router` with `options`; null (and a test failure) if it cannot.
inline std::unique_ptr<Server> start_server(ServerOptions options, Router router) {
  auto server = Server::listen(std::move(options), std::move(router));
  EXPECT_TRUE(server.is_ok()) << server.status().to_string();
  if (!server.is_ok()) return nullptr;
  (*server)->start();
  return std::move(server).value();
}

inline Client client_for(const Server& s, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  return Client(ClientOptions{s.endpoint(), timeout, uint64_t{1} << 30, {}});
}

}  // namespace thaw::http::testing
