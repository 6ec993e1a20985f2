#include "http/client.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "http/responder.h"
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

TEST(Client, StreamsABodyIntoTheCallersMemory) {
  std::string blob(3 << 20, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 131 + (i >> 12));
  Router router;
  router.get("/blob", [&](const Request&) { return Response::text(200, blob); });
  router.add_async("GET", "/chunked", [](Request&, Responder r) {
    ResponseHead head;  // no Content-Length: chunked
    r.begin(head);
    r.write("hello ");
    r.write("world");
    r.finish();
  });
  auto server = Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  Client c(ClientOptions{(*server)->endpoint()});
  for (int round = 0; round < 2; ++round) {  // the connection is reused after a body read to its end
    auto r = c.request_head("GET", "/blob");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body.empty());
    ASSERT_EQ(c.body_left(), blob.size());
    std::string got(blob.size(), '\0');
    const size_t first = 1000;
    ASSERT_TRUE(c.read_body(std::as_writable_bytes(std::span(got)).first(first)).is_ok());
    ASSERT_TRUE(c.read_body(std::as_writable_bytes(std::span(got)).subspan(first)).is_ok());
    EXPECT_TRUE(got == blob);
    EXPECT_EQ(c.body_left(), 0u);
    std::byte extra[1];
    EXPECT_EQ(c.read_body(std::span(extra)).code(), Code::kInvalidArgument);
  }
  // A body left half-read: the next request still gets its own answer (on a new connection).
  ASSERT_TRUE(c.request_head("GET", "/blob").is_ok());
  std::byte some[10];
  ASSERT_TRUE(c.read_body(std::span(some)).is_ok());
  auto whole = c.get("/blob");
  ASSERT_TRUE(whole.is_ok()) << whole.status().to_string();
  EXPECT_TRUE(whole->body == blob);
  // A chunked body is served from memory, the same way.
  auto ch = c.request_head("GET", "/chunked");
  ASSERT_TRUE(ch.is_ok()) << ch.status().to_string();
  ASSERT_EQ(c.body_left(), 11u);
  std::string text(11, '\0');
  ASSERT_TRUE(c.read_body(std::as_writable_bytes(std::span(text))).is_ok());
  EXPECT_EQ(text, "hello world");
}

TEST(Client, AStreamedBodyThatStopsIsAnError) {
  Router router;
  router.add_async("GET", "/short", [](Request&, Responder r) {
    ResponseHead head;
    head.content_length = 100;
    r.begin(head);
    r.write(std::string(40, 'x'));
    r.finish();  // short of its Content-Length: the server cuts the connection
  });
  auto server = Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  Client c(ClientOptions{(*server)->endpoint(), 5s});
  ASSERT_TRUE(c.request_head("GET", "/short").is_ok());
  std::string got(100, '\0');
  Status s = c.read_body(std::as_writable_bytes(std::span(got)));
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
}

}  // namespace
}  // namespace thaw::http
