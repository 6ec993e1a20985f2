#include "http/server.h"

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/client.h"
#include "test_util.h"

namespace thaw::http {
namespace {
using namespace std::chrono_literals;
using testing::RawConnection;

Router echo_router() {
  Router router;
  router.get("/hello", [](const Request&) { return Response::text(200, "hi"); });
  router.post("/echo/{tag}", [](const Request& r) {
    return Response::json(200, {{"tag", r.param("tag")},
                                {"size", r.body.size()},
                                {"type", std::string(r.header("content-type").value_or(""))}});
  });
  router.get("/boom", [](const Request&) -> Response { throw std::runtime_error("handler bug"); });
  return router;
}

std::unique_ptr<Server> start(ServerOptions o, Router router = echo_router()) {
  return testing::start_server(std::move(o), std::move(router));
}
using testing::client_for;

// Waits (bounded) until the server's active connection count reaches `n`.
bool wait_active(const Server& s, uint64_t n) {
  for (int i = 0; i < 2000; ++i) {
    if (s.stats().connections_active == n) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST(Server, EphemeralTcpPortAndKeepAlive) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->endpoint().port, 0);
  Client c = client_for(*server);
  for (int i = 0; i < 3; ++i) {
    auto r = c.get("/hello");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hi");
  }
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(server->stats().requests, 3u);
}

TEST(Server, UnixSocketAndPathParams) {
  std::string path = ::testing::TempDir() + "/thaw_http_test.sock";
  ServerOptions o;
  o.listen = Endpoint::unix_socket(path);
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  auto r = c.post("/echo/abc", std::string(1000, 'x'), "application/octet-stream");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto body = nlohmann::json::parse(r->body);
  EXPECT_EQ(body["tag"], "abc");
  EXPECT_EQ(body["size"], 1000);
  EXPECT_EQ(body["type"], "application/octet-stream");
  server.reset();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file left behind";
}

TEST(Server, RefusesToReplaceANonSocketFile) {
  std::string path = ::testing::TempDir() + "/thaw_http_regular_file";
  { FILE* f = std::fopen(path.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  ServerOptions o;
  o.listen = Endpoint::unix_socket(path);
  auto server = Server::listen(o, echo_router());
  EXPECT_FALSE(server.is_ok());
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  ::unlink(path.c_str());
}

TEST(Server, OversizeBodyGets413JsonAndServerKeepsServing) {
  ServerOptions o;
  o.max_body_bytes = 1024;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  auto r = c.post("/echo/big", std::string(100'000, 'x'));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(nlohmann::json::parse(r->body)["error"].get<std::string>().find("1024"), std::string::npos);
  auto ok = c.post("/echo/small", std::string(10, 'x'));
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(ok->status, 200);
}

TEST(Server, OversizeHeaderGets431) {
  ServerOptions o;
  o.max_header_bytes = 512;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  auto r = c.get("/hello", {{"X-Big", std::string(2000, 'a')}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 431);
}

TEST(Server, MalformedRequestGets400AndClose) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.send("THIS IS NOT HTTP\r\n\r\n"));
  bool closed = false;
  std::string reply = raw.read_until_close(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"error\""), std::string::npos);
  EXPECT_EQ(server->stats().bad_requests, 1u);
}

TEST(Server, SlowClientIsCutOff) {
  ServerOptions o;
  o.request_timeout = 200ms;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  RawConnection slow(server->endpoint());
  ASSERT_TRUE(slow.connected());
  // Starts a request and never finishes its header (slowloris).
  ASSERT_TRUE(slow.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  bool closed = false;
  slow.read_until_close(&closed);
  EXPECT_TRUE(closed) << "server kept a stalled request open";
  EXPECT_EQ(server->stats().timeouts, 1u);
  // Others are served meanwhile and afterwards.
  Client c = client_for(*server);
  auto r = c.get("/hello");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 200);
}

TEST(Server, IdleKeepAliveConnectionIsClosedAndClientReconnects) {
  ServerOptions o;
  o.idle_timeout = 100ms;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  ASSERT_TRUE(c.get("/hello").is_ok());
  ASSERT_TRUE(wait_active(*server, 0)) << "idle connection not closed";
  EXPECT_EQ(server->stats().timeouts, 0u) << "idle close is not a timeout";
  auto again = c.get("/hello");
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(server->stats().connections_accepted, 2u);
}

TEST(Server, ConnectionsOverTheCapGet503) {
  ServerOptions o;
  o.max_connections = 1;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  RawConnection first(server->endpoint());
  ASSERT_TRUE(first.connected());
  ASSERT_TRUE(wait_active(*server, 1));
  RawConnection second(server->endpoint());
  ASSERT_TRUE(second.connected());
  bool closed = false;
  std::string reply = second.read_until_close(&closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 503", 0), 0u) << reply;
  EXPECT_EQ(server->stats().connections_rejected, 1u);
}

TEST(Server, ThrowingHandlerGets500AndConnectionSurvives) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  auto r = c.get("/boom");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("handler bug"), std::string::npos);
  auto ok = c.get("/hello");
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

TEST(Server, UnknownRouteGets404Json) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  auto r = c.get("/nope");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json");
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n"));
  bool closed = false;
  std::string reply = raw.read_until_close(&closed);
  size_t first = reply.find("HTTP/1.1 200");
  size_t second = reply.find("HTTP/1.1 404");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  EXPECT_LT(first, second);
}

TEST(Server, ExpectContinueIsHonoured) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("POST /echo/c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Expect: 100-continue\r\n\r\n"));
  std::string interim = raw.read_until("\r\n\r\n");
  EXPECT_EQ(interim.rfind("HTTP/1.1 100", 0), 0u) << interim;
  ASSERT_TRUE(raw.send("abc"));
  std::string reply = raw.read_until("}");
  EXPECT_NE(reply.find("\"size\":3"), std::string::npos) << reply;
}

TEST(Server, StopFinishesTheRequestInFlight) {
  std::promise<void> entered;
  std::atomic<bool> release{false};
  Router router;
  router.get("/slow", [&](const Request&) {
    entered.set_value();
    while (!release) std::this_thread::sleep_for(1ms);
    return Response::text(200, "done");
  });
  ServerOptions o;
  o.threads = 2;
  auto server = start(o, std::move(router));
  ASSERT_NE(server, nullptr);
  auto pending = std::async(std::launch::async, [&] {
    Client c = client_for(*server);
    return c.get("/slow");
  });
  entered.get_future().wait();
  auto stopping = std::async(std::launch::async, [&] { server->stop(10s); });
  // New connections are refused once the acceptor closes; the one in flight is still answered.
  for (int i = 0; i < 2000 && RawConnection(server->endpoint()).connected(); ++i) std::this_thread::sleep_for(1ms);
  release = true;
  stopping.get();
  auto r = pending.get();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->header("connection").value_or(""), "close");
}

TEST(Server, HeadGetsTheGetHeadersWithoutABody) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  std::string reply = raw.read_until_close(&closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_NE(reply.find("Content-Length: 2\r\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), "");
}

TEST(Server, LoopPerThreadServesNewConnectionsWhileOneLoopIsBlocked) {
  std::atomic<bool> release{false};
  Router router = echo_router();
  router.get("/block", [&](const Request&) {
    while (!release) std::this_thread::sleep_for(1ms);
    return Response::text(200, "done");
  });
  ServerOptions o;
  o.threads = 4;
  o.loop_per_thread = true;
  auto server = start(o, std::move(router));
  ASSERT_NE(server, nullptr);
  auto blocked = std::async(std::launch::async, [&] { return client_for(*server).get("/block"); });
  // A failed check below returns early: the handler must still end, or the future's wait hangs.
  struct Unblock {
    std::atomic<bool>& release;
    ~Unblock() { release = true; }
  } unblock{release};
  for (int i = 0; i < 2000 && server->stats().requests < 1; ++i) std::this_thread::sleep_for(1ms);
  // Fresh connections avoid the blocked loop; each is answered while /block still runs.
  for (int i = 0; i < 8; ++i) {
    Client c = client_for(*server, 5s);
    auto r = c.post("/echo/x", std::string(100, 'a'));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
  }
  release = true;
  auto r = blocked.get();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->body, "done");
  server->stop(1s);
}

TEST(Server, StopWithoutStartAndTwice) {
  auto server = Server::listen({}, echo_router());
  ASSERT_TRUE(server.is_ok());
  (*server)->stop(0ms);
  (*server)->stop(0ms);
}

}  // namespace
}  // namespace thaw::http
