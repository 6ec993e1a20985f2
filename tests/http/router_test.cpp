#include "http/router.h"

#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/endpoint.h"

namespace thaw::http {
namespace {

Request make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

TEST(Router, CapturesPathParameters) {
  Router router;
  router.post("/v2/models/{model}/versions/{version}/infer", [](const Request& r) {
    return Response::json(200, {{"model", r.param("model")}, {"version", r.param("version")}});
  });
  Request req = make("POST", "/v2/models/mini%2Flm/versions/3/infer");
  Response res = router.dispatch(req);
  ASSERT_EQ(res.status, 200);
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["model"], "mini/lm");
  EXPECT_EQ(body["version"], "3");
}

TEST(Router, FirstMatchingRouteWins) {
  Router router;
  router.get("/v2/models/{model}", [](const Request&) { return Response::text(200, "capture"); });
  router.get("/v2/models/stats", [](const Request&) { return Response::text(200, "literal"); });
  Request req = make("GET", "/v2/models/stats");
  EXPECT_EQ(router.dispatch(req).body, "capture");
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405) {
  Router router;
  router.get("/v2/health/live", [](const Request&) { return Response::text(200, ""); });
  Request missing = make("GET", "/v2/nothing");
  Response r404 = router.dispatch(missing);
  EXPECT_EQ(r404.status, 404);
  EXPECT_TRUE(nlohmann::json::parse(r404.body).contains("error"));
  Request post = make("POST", "/v2/health/live");
  Response r405 = router.dispatch(post);
  EXPECT_EQ(r405.status, 405);
  EXPECT_EQ(find_header(r405.headers, "allow").value_or(""), "GET");
}

TEST(Router, HeadUsesTheGetRoute) {
  Router router;
  router.get("/x", [](const Request&) { return Response::text(200, "body"); });
  Request head = make("HEAD", "/x");
  EXPECT_EQ(router.dispatch(head).status, 200);
}

TEST(Router, ThrowingHandlerBecomes500) {
  Router router;
  router.get("/boom", [](const Request&) -> Response { throw std::runtime_error("kaput"); });
  Request req = make("GET", "/boom");
  Response res = router.dispatch(req);
  EXPECT_EQ(res.status, 500);
  EXPECT_NE(nlohmann::json::parse(res.body)["error"].get<std::string>().find("kaput"),
            std::string::npos);
}

TEST(Router, MalformedEscapeIs400) {
  Router router;
  router.get("/m/{name}", [](const Request&) { return Response::text(200, ""); });
  Request req = make("GET", "/m/bad%zz");
  EXPECT_EQ(router.dispatch(req).status, 400);
}

TEST(Router, SplitPathIgnoresEmptySegments) {
  auto parts = split_path("//a/b//c/");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], "a");
  EXPECT_EQ(parts[2], "c");
  EXPECT_TRUE(split_path("/").empty());
}

TEST(PercentDecode, DecodesAndRejects) {
  EXPECT_EQ(percent_decode("a%20b").value(), "a b");
  EXPECT_FALSE(percent_decode("a%2").has_value());
  EXPECT_FALSE(percent_decode("%").has_value());
  EXPECT_FALSE(percent_decode("%g0").has_value());
}

TEST(PercentEncode, EscapesAllButUnreservedAndRoundTrips) {
  EXPECT_EQ(percent_encode("a b/c~d_e.f-g"), "a%20b%2Fc~d_e.f-g");
  const std::string bytes("\x00\xff%?#", 5);
  EXPECT_EQ(percent_decode(percent_encode(bytes)).value(), bytes);
}

TEST(Endpoint, ParsesEveryForm) {
  auto tcp = Endpoint::parse("0.0.0.0:8080");
  ASSERT_TRUE(tcp.is_ok());
  EXPECT_EQ(tcp->host, "0.0.0.0");
  EXPECT_EQ(tcp->port, 8080);
  auto v6 = Endpoint::parse("[::1]:9");
  ASSERT_TRUE(v6.is_ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "[::1]:9");
  auto bare = Endpoint::parse(":7");
  ASSERT_TRUE(bare.is_ok());
  EXPECT_EQ(bare->host, "127.0.0.1");
  auto unix_ep = Endpoint::parse("unix:/tmp/x.sock");
  ASSERT_TRUE(unix_ep.is_ok());
  EXPECT_TRUE(unix_ep->is_unix());
  EXPECT_EQ(unix_ep->unix_path, "/tmp/x.sock");
  EXPECT_FALSE(Endpoint::parse("nohost").is_ok());
  EXPECT_FALSE(Endpoint::parse("h:99999").is_ok());
  EXPECT_FALSE(Endpoint::parse("h:12x").is_ok());
  EXPECT_FALSE(Endpoint::parse("unix:").is_ok());
}

}  // namespace
}  // namespace thaw::http
