#include "http/client.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "http/server.h"

namespace thaw::http {
namespace {
using namespace std::chrono_literals;

TEST(Client, RangeAndHeadersReachTheServer) {
  Router router;
  router.get("/blob", [](const Request& r) {
    Response res = Response::text(206, std::string(r.header("range").value_or("")));
    res.headers.emplace_back("X-Query", r.query);
    return res;
  });
  auto server = Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  Client c(ClientOptions{(*server)->endpoint()});
  auto r = c.get_range("/blob?v=2", 100, 50);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, "bytes=100-149");
  EXPECT_EQ(r->header("x-query").value_or(""), "v=2");
  EXPECT_FALSE(c.get_range("/blob", 0, 0).is_ok());
}

TEST(Client, TimesOutOnASlowServer) {
  std::atomic<bool> release{false};
  Router router;
  router.get("/slow", [&](const Request&) {
    for (int i = 0; i < 20000 && !release; ++i) std::this_thread::sleep_for(1ms);
    return Response::text(200, "late");
  });
  auto server = Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  Client c(ClientOptions{(*server)->endpoint(), 100ms});
  auto r = c.get("/slow");
  release = true;
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
}

TEST(Client, ConnectionRefusedIsUnavailable) {
  uint16_t port;
  {
    auto server = Server::listen({}, Router{});
    ASSERT_TRUE(server.is_ok());
    port = (*server)->endpoint().port;
  }
  Client c(ClientOptions{Endpoint::tcp("127.0.0.1", port), 2s});
  auto r = c.get("/");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  Client u(ClientOptions{Endpoint::unix_socket("/nonexistent/thaw.sock"), 2s});
  EXPECT_EQ(u.get("/").status().code(), Code::kUnavailable);
}

TEST(Client, ResponseOverTheLimitIsAnError) {
  Router router;
  router.get("/big", [](const Request&) { return Response::text(200, std::string(10000, 'z')); });
  auto server = Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  Client c(ClientOptions{(*server)->endpoint(), 5s, 100});
  auto r = c.get("/big");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
}

}  // namespace
}  // namespace thaw::http
