// The asynchronous client against the real server: whole and streamed answers, back-pressure,
// keep-alive reuse, a stale connection resent once, timeouts, cancellation.
#include "http/async_client.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "http/server.h"
#include "test_util.h"

namespace thaw::http {
namespace {
using namespace std::chrono_literals;

std::unique_ptr<Server> start(Router router, ServerOptions o = {}) {
  auto server = Server::listen(std::move(o), std::move(router));
  EXPECT_TRUE(server.is_ok()) << server.status().to_string();
  if (!server.is_ok()) return nullptr;
  (*server)->start();
  return std::move(server).value();
}

Router test_router() {
  Router router;
  router.post("/echo", [](const Request& r) { return Response::text(200, r.body); });
  router.get("/big", [](const Request&) { return Response::text(200, std::string(3 << 20, 'b')); });
  router.get("/slow", [](const Request&) {
    std::this_thread::sleep_for(500ms);
    return Response::text(200, "slow");
  });
  router.add_async("GET", "/sse", [](Request&, Responder r) {
    r.begin(ResponseHead{200, "text/event-stream", {}, std::nullopt});
    for (int i = 0; i < 4; ++i) r.write("data: " + std::to_string(i) + "\n\n");
    r.finish();
  });
  return router;
}

// Runs `fn(client, done)` on a loop thread and waits for `done`.
template <class T, class Fn>
T on_loop(const LoopThread& lt, Fn&& fn) {
  std::promise<T> p;
  auto f = p.get_future();
  lt.loop().post([&] { fn(p); });
  EXPECT_EQ(f.wait_for(20s), std::future_status::ready);
  return f.get();
}

TEST(AsyncClient, WholeResponsesOnOneKeptAliveConnection) {
  auto server = start(test_router());
  ASSERT_NE(server, nullptr);
  LoopThread lt;
  auto client = AsyncClient::create(lt.loop(), AsyncClientOptions{server->endpoint()});
  for (int i = 0; i < 3; ++i) {
    auto r = on_loop<Result<ClientResponse>>(lt, [&](auto& p) {
      client->request(ClientRequest{"POST", "/echo", {{"Content-Type", "text/plain"}}, "hello " + std::to_string(i)},
                      [&p](Result<ClientResponse> r) { p.set_value(std::move(r)); });
    });
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello " + std::to_string(i));
  }
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  auto big = on_loop<Result<ClientResponse>>(lt, [&](auto& p) {
    client->request(ClientRequest{"GET", "/big", {}, {}}, [&p](Result<ClientResponse> r) { p.set_value(std::move(r)); });
  });
  ASSERT_TRUE(big.is_ok()) << big.status().to_string();
  EXPECT_EQ(big->body.size(), size_t{3} << 20);
  lt.loop().post([client = std::move(client)] {});  // destroyed on its loop
}

TEST(AsyncClient, StreamsPiecesOnlyAsFastAsTheyAreTaken) {
  auto server = start(test_router());
  ASSERT_NE(server, nullptr);
  LoopThread lt;
  auto client = AsyncClient::create(lt.loop(), AsyncClientOptions{server->endpoint()});
  struct Seen {
    ClientHead head;
    std::string body;
    int pieces = 0;
    Status done;
  };
  auto seen = on_loop<std::shared_ptr<Seen>>(lt, [&](auto& p) {
    auto s = std::make_shared<Seen>();
    StreamCallbacks cb;
    cb.on_head = [s](ClientHead& h) { s->head = h; };
    cb.on_data = [s](std::string& piece, std::function<void()> more) {
      s->body += piece;
      s->pieces++;
      more();
    };
    cb.on_done = [s, &p](Status st) {
      s->done = st;
      p.set_value(s);
    };
    client->stream(ClientRequest{"GET", "/sse", {}, {}}, std::move(cb));
  });
  EXPECT_TRUE(seen->done.is_ok()) << seen->done.to_string();
  EXPECT_TRUE(seen->head.chunked);
  EXPECT_FALSE(seen->head.whole);
  EXPECT_EQ(seen->body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n");
  EXPECT_TRUE(client->reusable());
  lt.loop().post([client = std::move(client)] {});
}

TEST(AsyncClient, HeldBackStreamIsNotReadFurther) {
  auto server = start(test_router());
  ASSERT_NE(server, nullptr);
  LoopThread lt;
  auto client = AsyncClient::create(lt.loop(), AsyncClientOptions{server->endpoint()});
  std::promise<void> first;
  std::atomic<int> pieces{0};
  std::atomic<bool> done{false};
  lt.loop().post([&] {
    StreamCallbacks cb;
    cb.on_data = [&](std::string&, std::function<void()>) {  // never asks for more
      if (pieces++ == 0) first.set_value();
    };
    cb.on_done = [&](Status) { done = true; };
    client->stream(ClientRequest{"GET", "/big", {}, {}}, std::move(cb));
  });
  // /big has a Content-Length over the whole-body limit, so it streams.
  ASSERT_EQ(first.get_future().wait_for(10s), std::future_status::ready);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(pieces, 1);
  EXPECT_FALSE(done);
  std::promise<void> cancelled;
  lt.loop().post([&] {
    client->cancel();
    cancelled.set_value();
  });
  cancelled.get_future().wait();
  EXPECT_TRUE(done) << "cancel() ends the exchange";
  lt.loop().post([client = std::move(client)] {});
}

TEST(AsyncClient, StaleKeptAliveConnectionIsResentOnce) {
  ServerOptions o;
  o.idle_timeout = 100ms;  // the server closes the idle connection behind the client's back
  auto server = start(test_router(), o);
  ASSERT_NE(server, nullptr);
  LoopThread lt;
  auto client = AsyncClient::create(lt.loop(), AsyncClientOptions{server->endpoint()});
  for (int i = 0; i < 2; ++i) {
    auto r = on_loop<Result<ClientResponse>>(lt, [&](auto& p) {
      client->request(ClientRequest{"POST", "/echo", {}, "x"},
                      [&p](Result<ClientResponse> r) { p.set_value(std::move(r)); });
    });
    ASSERT_TRUE(r.is_ok()) << "attempt " << i << ": " << r.status().to_string();
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(server->stats().connections_accepted, 2u);
  lt.loop().post([client = std::move(client)] {});
}

TEST(AsyncClient, TimeoutAndRefusedConnectionAreErrors) {
  auto server = start(test_router());
  ASSERT_NE(server, nullptr);
  LoopThread lt;
  AsyncClientOptions o{server->endpoint()};
  o.timeout = 100ms;
  auto client = AsyncClient::create(lt.loop(), o);
  auto r = on_loop<Result<ClientResponse>>(lt, [&](auto& p) {
    client->request(ClientRequest{"GET", "/slow", {}, {}}, [&p](Result<ClientResponse> r) { p.set_value(std::move(r)); });
  });
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  auto refused = AsyncClient::create(lt.loop(), AsyncClientOptions{Endpoint::unix_socket("/nonexistent/thaw.sock")});
  r = on_loop<Result<ClientResponse>>(lt, [&](auto& p) {
    refused->request(ClientRequest{"GET", "/", {}, {}}, [&p](Result<ClientResponse> r) { p.set_value(std::move(r)); });
  });
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  lt.loop().post([a = std::move(client), b = std::move(refused)] {});
}

}  // namespace
}  // namespace thaw::http
