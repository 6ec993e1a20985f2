// Requests answered through Server::route_local: the same routes as a connection, whole or
// streamed answers collected into one Response, limits, cancellation and a stopped server.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/server.h"
#include "test_util.h"

namespace thaw::http {
namespace {
using namespace std::chrono_literals;

Request get(std::string path) {
  Request r;
  r.method = "GET";
  r.target = path;
  r.path = std::move(path);
  return r;
}

// Calls route_local and waits for its answer.
Response call(Server& server, Request r, LocalCallOptions o = {}) {
  auto answer = std::make_shared<std::promise<Response>>();
  auto f = answer->get_future();
  server.route_local(std::move(r), [answer](Response resp) { answer->set_value(std::move(resp)); }, o);
  EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
  return f.get();
}

std::unique_ptr<Server> serve(Router router, bool loop_per_thread) {
  ServerOptions o;
  o.threads = 3;
  o.loop_per_thread = loop_per_thread;
  return testing::start_server(std::move(o), std::move(router));
}

class LocalCallTest : public ::testing::TestWithParam<bool> {};

TEST_P(LocalCallTest, SynchronousAndAsynchronousRoutesAnswer) {
  std::vector<std::thread> answering;  // joined before the server goes
  Router router;
  router.get("/sync/{name}", [](const Request& r) { return Response::text(200, "hello " + r.param("name")); });
  router.add_async("POST", "/later", [&answering](Request& r, Responder responder) {
    answering.emplace_back([responder, body = r.body, tier = std::string(r.header("x-tier").value_or(""))] {
      responder.send(Response::text(201, body + "/" + tier));
    });
  });
  auto server = serve(std::move(router), GetParam());
  Response a = call(*server, get("/sync/w%20x"));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "hello w x");
  Request post = get("/later");
  post.method = "POST";
  post.body = "payload";
  post.headers.emplace_back("X-Tier", "premium");
  Response b = call(*server, std::move(post));
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(b.body, "payload/premium");
  EXPECT_EQ(call(*server, get("/nowhere")).status, 404);
  EXPECT_GE(server->stats().requests, 3u);
  for (auto& t : answering) t.join();
}

TEST_P(LocalCallTest, AStreamedAnswerIsCollected) {
  auto file = std::filesystem::temp_directory_path() / ("thaw-local-call-" + std::to_string(::getpid()));
  std::ofstream(file) << "0123456789";
  Router router;
  router.add_async("GET", "/stream", [file](Request&, Responder r) {
    ResponseHead head;
    head.content_type = "text/plain";
    head.headers.emplace_back("X-Kind", "streamed");
    r.begin(std::move(head));
    r.write("ab", [r, file](Status) {
      r.write_file(UniqueFd(::open(file.c_str(), O_RDONLY)), 2, 3, [r](Status) { r.finish(); });
    });
  });
  auto server = serve(std::move(router), GetParam());
  Response resp = call(*server, get("/stream"));
  std::filesystem::remove(file);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "ab234");
  EXPECT_EQ(find_header(resp.headers, "x-kind").value_or(""), "streamed");
}

TEST_P(LocalCallTest, AStreamOverTheLimitIs413AndAnAbortIs502) {
  Router router;
  router.add_async("GET", "/big", [](Request&, Responder r) {
    r.begin({});
    r.write(std::string(100, 'x'), [r](Status) { r.write(std::string(100, 'y'), [r](Status) { r.finish(); }); });
  });
  router.add_async("GET", "/cut", [](Request&, Responder r) {
    r.begin({});
    r.write("partial", [r](Status) { r.abort(); });
  });
  auto server = serve(std::move(router), GetParam());
  LocalCallOptions small;
  small.max_response_bytes = 150;
  EXPECT_EQ(call(*server, get("/big"), small).status, 413);
  EXPECT_EQ(call(*server, get("/big")).body.size(), 200u);
  EXPECT_EQ(call(*server, get("/cut")).status, 502);
}

TEST_P(LocalCallTest, AnUnansweredRequestIs500) {
  Router router;
  router.add_async("GET", "/drop", [](Request&, Responder) {});
  auto server = serve(std::move(router), GetParam());
  EXPECT_EQ(call(*server, get("/drop")).status, 500);
}

TEST_P(LocalCallTest, CancelAnswers499AndTheRouteSeesIt) {
  std::mutex mu;
  std::vector<Responder> parked;
  auto cancelled = std::make_shared<std::promise<void>>();
  Router router;
  router.add_async("GET", "/wait", [&, cancelled](Request&, Responder r) {
    r.on_cancel([cancelled] { cancelled->set_value(); });
    std::lock_guard lock(mu);
    parked.push_back(r);
  });
  auto server = serve(std::move(router), GetParam());
  auto answer = std::make_shared<std::promise<Response>>();
  auto handle = server->route_local(get("/wait"), [answer](Response r) { answer->set_value(std::move(r)); });
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard lock(mu);
      if (!parked.empty()) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  handle->cancel();
  auto f = answer->get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get().status, kClientClosedRequest);
  EXPECT_EQ(cancelled->get_future().wait_for(10s), std::future_status::ready);
  // The route answering afterwards changes nothing.
  std::lock_guard lock(mu);
  EXPECT_FALSE(parked.front().send(Response::text(200, "late")));
}

TEST_P(LocalCallTest, AStoppedServerAnswers503) {
  Router router;
  router.get("/x", [](const Request&) { return Response::text(200, "x"); });
  auto server = serve(std::move(router), GetParam());
  server->stop(0ms);
  EXPECT_EQ(call(*server, get("/x")).status, 503);
}

INSTANTIATE_TEST_SUITE_P(Loops, LocalCallTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "LoopPerThread" : "SharedLoop"; });

}  // namespace
}  // namespace thaw::http
