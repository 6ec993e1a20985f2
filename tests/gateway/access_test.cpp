#include "gateway/access.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace thaw::gateway {
namespace {

using manager::Tier;

const std::string kAdmin = "admin-token-0123456789abcdef";
const std::string kAlice = "alice-key-0123456789abcdef";
const std::string kBatch = "batch-key-0123456789abcdef";

http::Request request(std::string method, std::string path, http::Headers headers = {}) {
  http::Request r;
  r.method = std::move(method);
  r.target = r.path = std::move(path);
  r.headers = std::move(headers);
  r.headers.emplace_back("Host", "127.0.0.1:8000");
  return r;
}

AccessOptions secured() {
  AccessOptions o;
  o.admin_token = kAdmin;
  o.api_keys.push_back(ApiKey{"alice", kAlice, Tier::kPremium, 0, 0});
  o.api_keys.push_back(ApiKey{"batchy", kBatch, Tier::kBatch, 2, 2});
  return o;
}

int status_of(const Access::Decision& d) { return d.refusal ? d.refusal->status : 200; }

TEST(Access, AdminRoutesNeedTheAdminToken) {
  ManualClock clock;
  Access a(secured(), clock);
  EXPECT_EQ(status_of(a.admit(RouteKind::kAdmin, request("POST", "/admin/models/m/drain"))), 401);
  auto d = a.admit(RouteKind::kAdmin, request("POST", "/admin/models/m/drain", {{"Authorization", "Bearer wrong-token-xxxxxxxx"}}));
  ASSERT_EQ(status_of(d), 401);
  EXPECT_EQ(d.refusal->headers.front().first, "WWW-Authenticate");
  EXPECT_EQ(status_of(a.admit(RouteKind::kAdmin, request("GET", "/admin/models", {{"Authorization", "Bearer " + kAlice}}))), 403)
      << "an API key is not an admin token";
  EXPECT_EQ(status_of(a.admit(RouteKind::kAdmin, request("GET", "/admin/models", {{"X-API-Key", kAdmin}}))), 200);
  d = a.admit(RouteKind::kAdmin, request("POST", "/admin/models/m/drain", {{"authorization", "bearer " + kAdmin}}));
  EXPECT_EQ(status_of(d), 200);
  EXPECT_TRUE(d.caller.admin);
  EXPECT_EQ(d.caller.name(), "admin");
  EXPECT_EQ(status_of(a.admit(RouteKind::kAdmin, request("GET", "/admin/models", {{"Authorization", "Basic " + kAdmin}}))), 401)
      << "only the Bearer scheme carries the token";
}

TEST(Access, InferenceNeedsAKeyOnlyWhenKeysAreConfigured) {
  ManualClock clock;
  Access open({}, clock);
  EXPECT_EQ(status_of(open.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer"))), 200);
  Access a(secured(), clock);
  EXPECT_EQ(status_of(a.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer"))), 401);
  EXPECT_EQ(status_of(a.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer", {{"X-API-Key", "nope-nope-nope-nope"}}))), 401);
  auto d = a.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer", {{"X-API-Key", kAlice}}));
  EXPECT_EQ(status_of(d), 200);
  EXPECT_EQ(d.caller.name(), "alice");
  EXPECT_FALSE(d.caller.admin);
  EXPECT_EQ(status_of(a.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer", {{"Authorization", "Bearer " + kAdmin}}))), 200);
  EXPECT_EQ(status_of(a.admit(RouteKind::kOpen, request("GET", "/v2/health/ready"))), 200);
}

TEST(Access, EachKeyHasItsOwnRateLimit) {
  ManualClock clock(Nanos{1'000'000'000});
  Access a(secured(), clock);
  auto batch = [&] { return a.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer", {{"X-API-Key", kBatch}})); };
  EXPECT_EQ(status_of(batch()), 200);
  EXPECT_EQ(status_of(batch()), 200);
  auto d = batch();
  ASSERT_EQ(status_of(d), 429);
  EXPECT_NE(d.refusal->body.find("batchy"), std::string::npos);
  EXPECT_EQ(d.refusal->headers.front(), (std::pair<std::string, std::string>{"Retry-After", "1"}));
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(status_of(a.admit(RouteKind::kInference, request("POST", "/x", {{"X-API-Key", kAlice}}))), 200)
        << "another key's limit is not this one's";
  clock.advance(std::chrono::milliseconds(500));
  EXPECT_EQ(status_of(batch()), 200);
}

TEST(Access, TierIsCappedByTheKey) {
  ManualClock clock;
  Access a(secured(), clock);
  auto tier_of = [&](const std::string& key, http::Headers h, Tier* t) {
    http::Request r = request("POST", "/v2/models/m/infer", h);
    Caller c = a.admit(RouteKind::kInference, r).caller;
    (void)key;
    auto refused = a.tier_for(c, r, t);
    return refused ? refused->status : 200;
  };
  Tier t;
  EXPECT_EQ(tier_of(kBatch, {{"X-API-Key", kBatch}}, &t), 200);
  EXPECT_EQ(t, Tier::kBatch) << "a batch key runs at batch by default";
  EXPECT_EQ(tier_of(kBatch, {{"X-API-Key", kBatch}, {"X-Latency-Tier", "premium"}}, &t), 403);
  EXPECT_EQ(tier_of(kAlice, {{"X-API-Key", kAlice}, {"X-Latency-Tier", "premium"}}, &t), 200);
  EXPECT_EQ(t, Tier::kPremium);
  EXPECT_EQ(tier_of(kAlice, {{"X-API-Key", kAlice}}, &t), 200);
  EXPECT_EQ(t, Tier::kStandard);
  EXPECT_EQ(tier_of(kAlice, {{"X-API-Key", kAlice}, {"X-Latency-Tier", "gold"}}, &t), 400);
}

TEST(Access, TwoTierHeadersAreRefused) {
  ManualClock clock;
  Access a({}, clock);
  Tier t;
  http::Request r = request("POST", "/v2/models/m/infer", {{"X-Latency-Tier", "batch"}, {"x-latency-tier", "premium"}});
  auto refused = a.tier_for(Caller{}, r, &t);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
}

TEST(Access, ForeignOriginsAreRefusedOnStateChangingRoutes) {
  ManualClock clock;
  AccessOptions o;
  o.allowed_origins = {"https://console.example.com"};
  Access a(o, clock);
  auto drain = [&](std::string origin) {
    return status_of(a.admit(RouteKind::kAdmin, request("POST", "/admin/models/m/drain", {{"Origin", origin}})));
  };
  EXPECT_EQ(drain("http://evil.example"), 403);
  EXPECT_EQ(drain("null"), 403);
  EXPECT_EQ(drain("http://127.0.0.1:8000"), 200) << "the server's own origin";
  EXPECT_EQ(drain("https://console.example.com"), 200);
  EXPECT_EQ(status_of(a.admit(RouteKind::kInference, request("POST", "/v2/models/m/infer", {{"Origin", "http://evil.example"}}))), 403);
  EXPECT_EQ(status_of(a.admit(RouteKind::kInference, request("GET", "/v2/models/m", {{"Origin", "http://evil.example"}}))), 200)
      << "reading is not changing";
}

TEST(Access, WithoutATokenAdminRoutesAnswerOnlyDirectHosts) {
  ManualClock clock;
  AccessOptions o;
  o.allowed_hosts = {"thaw.internal"};
  Access a(o, clock);
  auto with_host = [&](std::string host) {
    http::Request r;
    r.method = "POST";
    r.target = r.path = "/admin/models/m/drain";
    r.headers = {{"Host", host}};
    return status_of(a.admit(RouteKind::kAdmin, r));
  };
  EXPECT_EQ(with_host("127.0.0.1:8000"), 200);
  EXPECT_EQ(with_host("[::1]:8000"), 200);
  EXPECT_EQ(with_host("localhost:8000"), 200);
  EXPECT_EQ(with_host("thaw.internal:8000"), 200);
  EXPECT_EQ(with_host("rebind.attacker.example:8000"), 403) << "DNS rebinding";
  http::Request r = request("POST", "/v2/models/m/infer");
  r.headers = {{"Host", "rebind.attacker.example"}};
  EXPECT_EQ(status_of(a.admit(RouteKind::kInference, r)), 200) << "only admin routes check the Host";
}

}  // namespace
}  // namespace thaw::gateway
