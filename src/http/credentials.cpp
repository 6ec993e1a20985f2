#include "http/credentials.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <boost/asio/ip/address.hpp>

namespace thaw::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// "host", "host:port", "[v6]", "[v6]:port" -> host without brackets and port.
std::string_view host_part(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

// "https://a.example:8443/x" -> "a.example:8443"; "" when it is not scheme://authority.
std::string_view authority_of(std::string_view origin) {
  const size_t sep = origin.find("://");
  if (sep == std::string_view::npos) return {};
  std::string_view rest = origin.substr(sep + 3);
  return rest.substr(0, rest.find('/'));
}

}  // namespace

std::optional<std::string_view> request_credential(const Request& request) {
  if (auto auth = request.header("Authorization")) {
    std::string_view v = trim(*auth);
    const size_t sp = v.find(' ');
    if (sp == std::string_view::npos || !iequal(v.substr(0, sp), "bearer")) return std::nullopt;
    std::string_view token = trim(v.substr(sp + 1));
    if (token.empty()) return std::nullopt;
    return token;
  }
  if (auto key = request.header("X-API-Key")) {
    std::string_view v = trim(*key);
    if (!v.empty()) return v;
  }
  return std::nullopt;
}

bool secret_equals(std::string_view a, std::string_view b) {
  unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

Result<std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(Code::kInvalidArgument, "secret file {}: cannot read it", path);
  if (st.st_uid == ::geteuid() && (st.st_mode & 0077) != 0)
    return make_error(Code::kInvalidArgument,
                      "secret file {} is readable by other users (mode {:o}); run `chmod 600 {}`", path,
                      st.st_mode & 0777, path);
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return make_error(Code::kInvalidArgument, "secret file {} is empty", path);
  std::string secret(trim(line));
  if (secret.size() < 16)
    return make_error(Code::kInvalidArgument, "the secret in {} is shorter than 16 characters; use e.g. `openssl rand -hex 32`",
                      path);
  if (std::any_of(secret.begin(), secret.end(), [](char c) { return c == ' ' || c < 0x21 || c > 0x7e; }))
    return make_error(Code::kInvalidArgument, "the secret in {} must be printable ASCII without spaces", path);
  return secret;
}

std::optional<std::string> foreign_origin(const Request& request, const std::vector<std::string>& allowed) {
  auto origin = request.header("Origin");
  if (!origin) return std::nullopt;
  std::string_view o = trim(*origin);
  for (const auto& a : allowed)
    if (iequal(a, o) || a == "*") return std::nullopt;
  std::string_view authority = authority_of(o);
  auto host = request.header("Host");
  if (!authority.empty() && host && iequal(authority, trim(*host))) return std::nullopt;
  return std::string(o);
}

bool host_is_direct(const Request& request, const std::vector<std::string>& allowed) {
  auto header = request.header("Host");
  if (!header) return true;
  std::string_view host = host_part(trim(*header));
  if (iequal(host, "localhost")) return true;
  for (const auto& a : allowed)
    if (iequal(a, host) || iequal(a, trim(*header))) return true;
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(std::string(host), ec);
  return !ec;
}

}  // namespace thaw::http
