// The open-loop engine against real servers: thaw's own HTTP server, and raw sockets for the
// misbehaving ones (closing keep-alive connections, answering garbage).
#include "loadgen/runner.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/unique_fd.h"
#include "http/server.h"
#include "loadgen/report.h"

namespace thaw::loadgen {
namespace {
using namespace std::chrono_literals;

uint64_t total_count(const LoadReport& r) {
  uint64_t total = 0;
  for (const auto& [code, n] : r.status_counts) total += n;
  for (const auto& [name, n] : r.error_counts) total += n;
  return total;
}

void expect_every_request_ended(const RunOutput& out) {
  for (const Outcome& o : out.outcomes) {
    EXPECT_NE(o.failure, Failure::kUnresolved);
    EXPECT_GE(o.done_ns, 0);
    if (o.failure == Failure::kNone) {
      EXPECT_GT(o.status, 0);
    }
  }
}

struct EchoServer {
  std::atomic<int> requests{0};
  std::mutex mu;
  std::map<std::string, int> by_path;
  std::string last_body, last_header;
  std::unique_ptr<http::Server> server;

  explicit EchoServer(http::Endpoint listen = {}) {
    http::Router router;
    router.post("/v2/models/{model}/infer", [this](const http::Request& r) {
      ++requests;
      std::lock_guard lock(mu);
      ++by_path[r.path];
      last_body = r.body;
      last_header = std::string(r.header("x-latency-tier").value_or(""));
      // "busy" answers 503 so the status counts have two kinds.
      return r.param("model") == "busy"
                 ? http::Response::error(503, "busy")
                 : http::Response::json(200, nlohmann::json{{"model_name", r.param("model")}});
    });
    http::ServerOptions o;
    o.listen = listen;
    auto s = http::Server::listen(o, std::move(router));
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    server = std::move(*s);
    server->start();
  }
  ~EchoServer() { server->stop(1s); }
};

TEST(RunLoad, EveryRequestAnsweredPerModelStatusAndBody) {
  EchoServer echo;
  auto s =
      parse_schedule("0 tiny\n0.01 busy\n0.02 tiny\n0.03 tiny\n0.04 busy\n0.05 tiny\n0.05 tiny\n0.06 tiny\n");
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = echo.server->endpoint();
  o.method = "POST";
  o.path = "/v2/models/{model}/infer";
  o.body = R"({"inputs":[]})";
  o.headers = {{"X-Latency-Tier", "premium"}};
  o.timeout = 10s;
  auto out = run_load(*s, o);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  expect_every_request_ended(*out);
  LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
  EXPECT_EQ(total_count(r), 8u);
  EXPECT_EQ(r.status_counts[200], 6u);
  EXPECT_EQ(r.status_counts[503], 2u);
  EXPECT_TRUE(r.error_counts.empty());
  EXPECT_EQ(echo.requests.load(), 8);  // nothing sent twice
  EXPECT_EQ(echo.by_path["/v2/models/tiny/infer"], 6);
  EXPECT_EQ(echo.by_path["/v2/models/busy/infer"], 2);
  EXPECT_EQ(echo.last_body, o.body);
  EXPECT_EQ(echo.last_header, "premium");
  EXPECT_EQ(r.per_model.at("busy").ok, 0u);
  EXPECT_EQ(r.status_examples.at(503), R"({"error":"busy"})");
  EXPECT_FALSE(r.status_examples.contains(200));
  EXPECT_GE(out->stats.connections_opened, 1u);
  EXPECT_LE(out->stats.peak_connections, o.max_connections);
}

TEST(RunLoad, UnixSocketAndDefaultModel) {
  std::string path = ::testing::TempDir() + "/loadgen_runner_test.sock";
  EchoServer echo(http::Endpoint::unix_socket(path));
  auto s = constant_rate(200, 0.1);
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = http::Endpoint::unix_socket(path);
  o.method = "POST";
  o.path = "/v2/models/{model}/infer";
  o.default_model = "tiny";
  o.max_connections = 2;
  auto out = run_load(*s, o);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  expect_every_request_ended(*out);
  LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
  EXPECT_EQ(r.status_counts[200], s->size());
  EXPECT_LE(out->stats.peak_connections, 2u);
}

TEST(RunLoad, ConnectionRefusedEndsEveryRequest) {
  uint16_t port;
  {
    auto server = http::Server::listen({}, http::Router{});
    ASSERT_TRUE(server.is_ok());
    port = (*server)->endpoint().port;
  }
  auto s = constant_rate(500, 0.1);
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = http::Endpoint::tcp("127.0.0.1", port);
  auto out = run_load(*s, o);
  ASSERT_TRUE(out.is_ok());
  expect_every_request_ended(*out);
  LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
  EXPECT_EQ(total_count(r), s->size());
  EXPECT_EQ(r.error_counts["connect_refused"], s->size());
  EXPECT_FALSE(r.error_examples["connect_refused"].empty());
}

TEST(RunLoad, SlowServerEndsAsTimeoutsNotHangs) {
  std::atomic<bool> release{false};
  http::Router router;
  router.get("/slow", [&](const http::Request&) {
    for (int i = 0; i < 20000 && !release; ++i) std::this_thread::sleep_for(1ms);
    return http::Response::text(200, "late");
  });
  auto server = http::Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  auto s = parse_schedule("0\n0.01\n0.02\n0.03\n");
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = (*server)->endpoint();
  o.path = "/slow";
  o.max_connections = 1;
  o.timeout = 200ms;
  auto out = run_load(*s, o);
  release = true;
  ASSERT_TRUE(out.is_ok());
  expect_every_request_ended(*out);
  LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
  EXPECT_EQ(total_count(r), 4u);
  EXPECT_TRUE(r.status_counts.empty());
  EXPECT_GE(r.error_counts["timeout"], 1u);  // the first one was in flight
  EXPECT_EQ(r.error_counts["timeout"] + r.error_counts["queue_timeout"], 4u);
  (*server)->stop(0ms);
}

// A server on raw sockets: each connection gets `reply` to its first request, then is closed.
class OneShotServer {
 public:
  explicit OneShotServer(std::string reply) : reply_(std::move(reply)) {
    listener_.reset(::socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listener_.get(), 64), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    stop_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (!stop_) {
      UniqueFd conn(::accept(listener_.get(), nullptr, nullptr));
      if (!conn.valid()) return;
      ++connections_;
      timeval tv{5, 0};
      ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(conn.get(), buf, sizeof(buf), 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      ::send(conn.get(), reply_.data(), reply_.size(), MSG_NOSIGNAL);
      ::shutdown(conn.get(), SHUT_WR);
    }
  }

  std::string reply_;
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(RunLoad, StaleKeepAliveConnectionIsResentOnce) {
  // The reply promises keep-alive, then the server closes: the next request on that connection
  // finds it dead before reading a byte and must go out again on a fresh one.
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  auto s = parse_schedule("0\n0.05\n0.1\n0.15\n");
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = http::Endpoint::tcp("127.0.0.1", server.port());
  o.max_connections = 1;
  auto out = run_load(*s, o);
  ASSERT_TRUE(out.is_ok());
  expect_every_request_ended(*out);
  LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
  EXPECT_EQ(r.status_counts[200], 4u) << to_text(r);
  EXPECT_EQ(out->stats.resends, 3u);
  EXPECT_EQ(server.connections(), 4);
}

TEST(RunLoad, StaleResendGoesOutOnAFreshConnectionNotAnotherIdleOne) {
  // Two connections serve the first two requests and are both closed by the server. The third
  // request finds its idle connection dead; its resend must not take the other dead one.
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  auto s = parse_schedule("0\n0\n0.2\n");
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = http::Endpoint::tcp("127.0.0.1", server.port());
  o.max_connections = 2;
  auto out = run_load(*s, o);
  ASSERT_TRUE(out.is_ok());
  expect_every_request_ended(*out);
  LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
  EXPECT_EQ(r.status_counts[200], 3u) << to_text(r);
  EXPECT_EQ(out->stats.resends, 1u);
  EXPECT_EQ(server.connections(), 3);
}

TEST(RunLoad, GarbageAndTruncatedResponsesAreNamedErrors) {
  {
    OneShotServer server("garbage\r\n\r\n");
    auto s = parse_schedule("0\n0.01\n");
    ASSERT_TRUE(s.is_ok());
    LoadOptions o;
    o.endpoint = http::Endpoint::tcp("127.0.0.1", server.port());
    auto out = run_load(*s, o);
    ASSERT_TRUE(out.is_ok());
    LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
    EXPECT_EQ(r.error_counts["bad_response"], 2u) << to_text(r);
  }
  {
    OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    auto s = parse_schedule("0\n");
    ASSERT_TRUE(s.is_ok());
    LoadOptions o;
    o.endpoint = http::Endpoint::tcp("127.0.0.1", server.port());
    auto out = run_load(*s, o);
    ASSERT_TRUE(out.is_ok());
    LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
    EXPECT_EQ(r.error_counts["connection_closed"], 1u) << to_text(r);
  }
  {
    OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    auto s = parse_schedule("0\n");
    ASSERT_TRUE(s.is_ok());
    LoadOptions o;
    o.endpoint = http::Endpoint::tcp("127.0.0.1", server.port());
    o.max_response_bytes = 10;
    auto out = run_load(*s, o);
    ASSERT_TRUE(out.is_ok());
    LoadReport r = summarize_run(*s, out->outcomes, 0, out->stats);
    EXPECT_EQ(r.error_counts["response_too_large"], 1u) << to_text(r);
  }
}

TEST(RunLoad, RejectsUnusableOptions) {
  auto s = constant_rate(10, 0.1);
  ASSERT_TRUE(s.is_ok());
  LoadOptions o;
  o.endpoint = http::Endpoint::tcp("127.0.0.1", 9);
  o.path = "/v2/models/{model}/infer";
  auto no_model = run_load(*s, o);
  ASSERT_FALSE(no_model.is_ok());
  EXPECT_NE(no_model.status().message().find("{model}"), std::string::npos);
  o.path = "/";
  o.method = "NOT A VERB";
  EXPECT_FALSE(run_load(*s, o).is_ok());
  o.method = "GET";
  o.headers = {{"Bad\r\nName", "x"}};
  EXPECT_FALSE(run_load(*s, o).is_ok());
  o.headers = {};
  o.max_connections = 0;
  EXPECT_FALSE(run_load(*s, o).is_ok());
  o.max_connections = 1;
  o.endpoint = http::Endpoint::tcp("no-such-host.invalid", 80);
  EXPECT_FALSE(run_load(*s, o).is_ok());
}

}  // namespace
}  // namespace thaw::loadgen
