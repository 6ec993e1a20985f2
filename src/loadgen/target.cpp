#include "loadgen/target.h"

#include <charconv>

namespace thaw::loadgen {

namespace {
constexpr std::string_view kPlaceholder = "{model}";
}

Result<Target> parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.starts_with("https://"))
    return make_error(Code::kUnsupported, "'{}': https is not supported; use http://", url);
  if (!url.starts_with(kScheme)) return make_error(Code::kInvalidArgument, "'{}' is not an http:// URL", url);
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (path.front() == '?') path.insert(path.begin(), '/');
  if (authority.empty()) return make_error(Code::kInvalidArgument, "'{}' has no host", url);
  if (authority.find('@') != std::string_view::npos)
    return make_error(Code::kInvalidArgument, "'{}': credentials in URLs are not supported", url);
  for (char c : path)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return make_error(Code::kInvalidArgument, "'{}': the path has a space or control character", url);

  std::string_view host = authority;
  std::string_view port_text;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return make_error(Code::kInvalidArgument, "'{}': unterminated '[' in the host", url);
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return make_error(Code::kInvalidArgument, "'{}': junk after ']'", url);
      port_text = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return make_error(Code::kInvalidArgument, "'{}' has no host", url);
  unsigned port = 80;
  if (!port_text.empty() || authority.back() == ':') {
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535)
      return make_error(Code::kInvalidArgument, "'{}' has a bad port", url);
  }
  Target t;
  t.endpoint = http::Endpoint::tcp(std::string(host), static_cast<uint16_t>(port));
  t.host_header = std::string(authority);
  t.path = std::move(path);
  return t;
}

bool has_model_placeholder(std::string_view path) {
  return path.find(kPlaceholder) != std::string_view::npos;
}

std::string expand_model(std::string_view path, std::string_view model) {
  std::string out;
  out.reserve(path.size() + model.size());
  for (;;) {
    size_t at = path.find(kPlaceholder);
    if (at == std::string_view::npos) break;
    out.append(path.substr(0, at));
    out.append(model);
    path.remove_prefix(at + kPlaceholder.size());
  }
  out.append(path);
  return out;
}

}  // namespace thaw::loadgen
