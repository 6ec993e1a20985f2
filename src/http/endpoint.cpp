#include "http/endpoint.h"

#include <charconv>

namespace thaw::http {

std::string Endpoint::to_string() const {
  if (is_unix()) return "unix:" + unix_path;
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
  if (text.starts_with("unix:")) text.remove_prefix(5);
  else if (!text.starts_with("/")) {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return make_error(Code::kInvalidArgument, "endpoint '{}' is not host:port or unix:/path", text);
    std::string_view host = text.substr(0, colon);
    std::string_view port_text = text.substr(colon + 1);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
      return make_error(Code::kInvalidArgument, "endpoint '{}' has a bad port", text);
    return tcp(host.empty() ? "127.0.0.1" : std::string(host), static_cast<uint16_t>(port));
  }
  if (text.empty()) return make_error(Code::kInvalidArgument, "empty Unix socket path");
  return unix_socket(std::string(text));
}

}  // namespace thaw::http
