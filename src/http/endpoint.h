// Where a server listens or a client connects: a TCP host:port or a Unix socket path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace thaw::http {

struct Endpoint {
  std::string host = "127.0.0.1";  // TCP host name or address (ignored for Unix sockets)
  uint16_t port = 0;               // 0 when listening: the OS picks one (see Server::endpoint())
  std::string unix_path;           // non-empty: a Unix domain socket instead of TCP

  bool is_unix() const { return !unix_path.empty(); }
  // "127.0.0.1:8080", "[::1]:80" or "unix:/run/thaw.sock".
  std::string to_string() const;

  static Endpoint tcp(std::string host, uint16_t port) { return Endpoint{std::move(host), port, {}}; }
  static Endpoint unix_socket(std::string path) { return Endpoint{{}, 0, std::move(path)}; }
  // Accepts "host:port", "[v6]:port", ":port" (host 127.0.0.1), "unix:/path" or "/path".
  static Result<Endpoint> parse(std::string_view text);
};

}  // namespace thaw::http
