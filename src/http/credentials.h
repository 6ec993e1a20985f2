// What a request says about who sends it and from where, for the routes that check it: the
// credential it carries, and whether a browser sent it from a page of another origin (CSRF) or
// through a name that rebinds to this host (DNS rebinding). Pure functions of the request's
// headers, so a request that did not come over a socket (gRPC translated to http::Request) is
// checked the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace thaw::http {

// "Authorization: Bearer <token>" (scheme case-insensitive), else "X-API-Key: <key>"; nullopt
// when neither is there or the Authorization header uses another scheme.
std::optional<std::string_view> request_credential(const Request& request);

// Compares two secrets in time that depends on neither (their SHA-256 digests are compared).
bool secret_equals(std::string_view a, std::string_view b);

// Reads a secret from a file: its first line, surrounding whitespace removed. The file must not
// be readable by others (mode & 0077 == 0 for a file we own) and the secret at least 16 bytes.
Result<std::string> read_secret_file(const std::string& path);

// The Origin header, when a browser sent one that names neither the request's own Host nor one of
// `allowed` ("https://app.example.com"); "null" is always foreign. nullopt: not foreign.
std::optional<std::string> foreign_origin(const Request& request, const std::vector<std::string>& allowed);

// True when the Host header names this machine the way only a local client would: an IP literal
// or "localhost" (any port), or one of `allowed` hosts. A DNS name that resolves here is how a
// rebinding page reaches a loopback server. No Host header (not from a browser): true.
bool host_is_direct(const Request& request, const std::vector<std::string>& allowed);

}  // namespace thaw::http
