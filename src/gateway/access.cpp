#include "gateway/access.h"

#include <openssl/sha.h>

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "http/credentials.h"

namespace thaw::gateway {

using http::Response;
using manager::Tier;

namespace {

Response unauthorized(std::string message) {
  Response r = Response::error(401, message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"thaw\"");
  return r;
}

bool changes_state(const http::Request& r) { return r.method != "GET" && r.method != "HEAD"; }

}  // namespace

size_t Access::DigestHash::operator()(const Digest& d) const {
  size_t h;
  std::memcpy(&h, d.data(), sizeof(h));
  return h;
}

Access::Digest Access::digest(std::string_view secret) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), d.data());
  return d;
}

Access::Access(AccessOptions options, const Clock& clock) : options_(std::move(options)), clock_(clock) {
  if (!options_.admin_token.empty()) admin_digest_ = digest(options_.admin_token);
  for (size_t i = 0; i < options_.api_keys.size(); ++i) {
    const ApiKey& k = options_.api_keys[i];
    key_index_.emplace(digest(k.secret), i);
    buckets_.push_back(std::make_unique<TokenBucket>(k.rate_per_second, k.burst > 0 ? k.burst : k.rate_per_second));
  }
}

Caller Access::identify(const http::Request& request, bool* presented) const {
  Caller c;
  auto credential = http::request_credential(request);
  *presented = credential.has_value();
  if (!credential) return c;
  // One digest, then exact lookups: the time taken does not depend on how much of a secret matches.
  const Digest d = digest(*credential);
  if (admin_digest_ && d == *admin_digest_) {
    c.admin = true;
    return c;
  }
  if (auto it = key_index_.find(d); it != key_index_.end()) c.key = &options_.api_keys[it->second];
  return c;
}

Access::Decision Access::admit(RouteKind kind, const http::Request& request) {
  Decision out;
  if (kind == RouteKind::kOpen) return out;
  if (changes_state(request)) {
    if (auto origin = http::foreign_origin(request, options_.allowed_origins)) {
      out.refusal = Response::error(403, fmt::format("a request from the web page origin '{}' is refused; add the "
                                                     "origin to server.allowed_origins to allow it",
                                                     *origin));
      return out;
    }
  }
  bool presented = false;
  out.caller = identify(request, &presented);
  const Caller& c = out.caller;
  if (kind == RouteKind::kAdmin) {
    if (admin_digest_) {
      if (c.admin) return out;
      if (c.key)
        out.refusal = Response::error(403, fmt::format("API key '{}' may not use admin routes", c.key->name));
      else
        out.refusal = unauthorized(presented ? "the admin token is not valid"
                                             : "admin routes need \"Authorization: Bearer <admin token>\"");
      return out;
    }
    if (!http::host_is_direct(request, options_.allowed_hosts))
      out.refusal = Response::error(403, fmt::format("admin routes without an admin token answer only a Host that is "
                                                     "an IP address or localhost, not '{}'; set an admin token or "
                                                     "server.allowed_hosts",
                                                     request.header("Host").value_or("")));
    return out;
  }
  // Inference.
  if (options_.api_keys.empty() || c.admin) return out;
  if (!c.key) {
    out.refusal = unauthorized(presented ? "the API key is not valid"
                                         : "this server needs an API key: \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\"");
    return out;
  }
  const size_t index = static_cast<size_t>(c.key - options_.api_keys.data());
  if (auto wait = buckets_[index]->take(clock_.now())) {
    Response r = Response::error(429, fmt::format("API key '{}' is over its rate limit of {} requests per second",
                                                  c.key->name, c.key->rate_per_second));
    r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(to_seconds(*wait))))));
    out.refusal = std::move(r);
  }
  return out;
}

std::optional<Response> Access::tier_for(const Caller& caller, const http::Request& request, Tier* tier) const {
  if (http::count_header(request.headers, manager::kTierHeader) > 1)
    return Response::error(400, fmt::format("{} appears more than once; send it once", manager::kTierHeader));
  auto header = request.header(manager::kTierHeader);
  auto parsed = manager::parse_tier(header);
  if (!parsed.is_ok()) return Response::from_status(parsed.status());
  *tier = *parsed;
  if (caller.key && !caller.admin && manager::index(*tier) < manager::index(caller.key->tier)) {
    if (!header) {
      *tier = caller.key->tier;  // a key limited to batch runs at batch by default
      return std::nullopt;
    }
    return Response::error(403, fmt::format("API key '{}' may use tier {} at best, not {}", caller.key->name,
                                            manager::tier_name(caller.key->tier), manager::tier_name(*tier)));
  }
  return std::nullopt;
}

}  // namespace thaw::gateway
