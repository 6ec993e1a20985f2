// Who may call which route of the gateway. Checked on the http::Request itself (its headers),
// in the route layer, so every front end that dispatches through the gateway's router (HTTP/1.1,
// gRPC translated to requests) gets the same checks.
//
//   admin routes (/admin/*, /v2/repository/*): with an admin token, "Authorization: Bearer
//     <token>" is required (401 without or with a wrong one, 403 with an API key); without one
//     they are open, but only to a Host that is an IP literal or localhost (DNS rebinding).
//   inference routes (/v2/models/*): with API keys, a key (Bearer or X-API-Key) or the admin token
//     is required (401); each key has a best tier it may ask for (403 above it) and a rate limit
//     (429 with Retry-After over it). Without keys they are open.
//   every route but GET/HEAD: a browser's Origin that is neither the Host itself nor allowed is
//     refused with 403 (cross-site request forgery).
//   health, /v2 and /metrics: open.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "gateway/rate_limit.h"
#include "http/message.h"
#include "manager/tier.h"

namespace thaw::gateway {

struct ApiKey {
  std::string name;    // in the access log and errors; never the secret
  std::string secret;
  manager::Tier tier = manager::Tier::kStandard;  // the best tier its requests may ask for
  double rate_per_second = 0;                     // 0: no limit
  double burst = 0;                               // requests at once; 0: the rate (at least 1)
};

struct AccessOptions {
  std::string admin_token;                   // "": admin routes open (loopback use only)
  std::vector<ApiKey> api_keys;              // empty: inference open
  std::vector<std::string> allowed_origins;  // "https://app.example.com"; "*" allows every origin
  std::vector<std::string> allowed_hosts;    // extra Host names admin routes accept without a token
};

enum class RouteKind { kOpen, kInference, kAdmin };

struct Caller {
  bool admin = false;            // presented the admin token
  const ApiKey* key = nullptr;   // presented this API key
  std::string_view name() const { return admin ? std::string_view("admin") : key ? std::string_view(key->name) : ""; }
};

class Access {
 public:
  // `clock` must outlive this (rate limits).
  Access(AccessOptions options, const Clock& clock);

  bool admin_protected() const { return !options_.admin_token.empty(); }
  bool keys_required() const { return !options_.api_keys.empty(); }

  // The caller of a route of `kind`, or the response refusing it (401, 403, 429).
  struct Decision {
    Caller caller;
    std::optional<http::Response> refusal;
  };
  Decision admit(RouteKind kind, const http::Request& request);

  // Sets the tier an inference request runs at: its X-Latency-Tier (standard when absent, the
  // key's own tier when that is lower), or answers the refusal: 400 for an unknown tier or the
  // header twice, 403 above the key's tier.
  std::optional<http::Response> tier_for(const Caller& caller, const http::Request& request,
                                         manager::Tier* tier) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    size_t operator()(const Digest& d) const;
  };
  static Digest digest(std::string_view secret);
  // Who the request's credential names; `presented` is set when it carries one at all.
  Caller identify(const http::Request& request, bool* presented) const;

  AccessOptions options_;
  const Clock& clock_;
  std::optional<Digest> admin_digest_;
  std::unordered_map<Digest, size_t, DigestHash> key_index_;  // digest -> index in options_.api_keys
  std::vector<std::unique_ptr<TokenBucket>> buckets_;          // one per key
};

}  // namespace thaw::gateway
