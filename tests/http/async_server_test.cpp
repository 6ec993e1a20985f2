// Asynchronous handlers: answers that come later from another thread, streamed bodies with
// back-pressure, files, cancellation when the client hangs up, and what a stop does to them.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "http/client.h"
#include "http/server.h"
#include "test_util.h"

namespace thaw::http {
namespace {
using namespace std::chrono_literals;
using testing::RawConnection;

// Responders parked by a test, answered by the test's own thread later.
struct Parked {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Responder> waiting;
  std::atomic<int> cancelled{0};

  void park(Responder r) {
    r.on_cancel([this] { cancelled++; });
    std::lock_guard lock(mu);
    waiting.push_back(std::move(r));
    cv.notify_all();
  }
  bool wait_for(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return waiting.size() >= n; });
  }
  Responder take() {
    std::lock_guard lock(mu);
    Responder r = waiting.front();
    waiting.erase(waiting.begin());
    return r;
  }
};

std::unique_ptr<Server> start(ServerOptions o, Router router) {
  return testing::start_server(std::move(o), std::move(router));
}
using testing::client_for;

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 2000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

ServerOptions loops(int n) {
  ServerOptions o;
  o.threads = n;
  o.loop_per_thread = true;
  return o;
}

TEST(AsyncServer, AnswersFromAnotherThreadWhileTheLoopServesOthers) {
  Parked parked;
  Router router;
  router.add_async("GET", "/wait", [&](Request&, Responder r) { parked.park(std::move(r)); });
  router.get("/now", [](const Request&) { return Response::text(200, "now"); });
  auto server = start(loops(2), std::move(router));  // one loop carries connections
  ASSERT_NE(server, nullptr);
  std::vector<std::future<Result<ClientResponse>>> waiting;
  for (int i = 0; i < 20; ++i)
    waiting.push_back(std::async(std::launch::async, [&] { return client_for(*server).get("/wait"); }));
  ASSERT_TRUE(parked.wait_for(20));
  // A request counts as pending once its handler has returned, just after it parked the responder.
  EXPECT_TRUE(eventually([&] { return server->stats().pending == 20; })) << server->stats().pending;
  // The only connection loop is not blocked by twenty waiting requests.
  auto now = client_for(*server).get("/now");
  ASSERT_TRUE(now.is_ok()) << now.status().to_string();
  EXPECT_EQ(now->body, "now");
  std::thread answerer([&] {
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(parked.take().send(Response::text(200, "later " + std::to_string(i))));
  });
  answerer.join();
  for (auto& f : waiting) {
    auto r = f.get();
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.rfind("later ", 0), 0u);
  }
  EXPECT_TRUE(eventually([&] { return server->stats().pending == 0; }));
  EXPECT_EQ(parked.cancelled, 0);
}

TEST(AsyncServer, KeepAliveConnectionServesTheNextRequestAfterALateAnswer) {
  Parked parked;
  Router router;
  router.add_async("GET", "/wait", [&](Request&, Responder r) { parked.park(std::move(r)); });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  for (int i = 0; i < 3; ++i) {
    auto f = std::async(std::launch::async, [&] { return c.get("/wait"); });
    ASSERT_TRUE(parked.wait_for(1));
    parked.take().send(Response::text(200, std::to_string(i)));
    auto r = f.get();
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->body, std::to_string(i));
  }
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

TEST(AsyncServer, ClientHangingUpCancelsItsRequest) {
  Parked parked;
  Router router;
  router.add_async("GET", "/wait", [&](Request&, Responder r) { parked.park(std::move(r)); });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  {
    RawConnection raw(server->endpoint());
    ASSERT_TRUE(raw.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(parked.wait_for(1));
  }  // closed
  ASSERT_TRUE(eventually([&] { return parked.cancelled.load() == 1; }));
  Responder late = parked.take();
  EXPECT_TRUE(late.cancelled());
  EXPECT_FALSE(late.send(Response::text(200, "too late")));
  EXPECT_EQ(server->stats().cancelled, 1u);
  EXPECT_TRUE(eventually([&] { return server->stats().connections_active == 0 && server->stats().pending == 0; }));
}

TEST(AsyncServer, PipelinedRequestWaitsForTheLateAnswer) {
  Parked parked;
  Router router;
  router.add_async("GET", "/wait", [&](Request&, Responder r) { parked.park(std::move(r)); });
  router.get("/now", [](const Request&) { return Response::text(200, "now"); });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(parked.wait_for(1));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(parked.cancelled, 0) << "pipelined bytes are not a hang-up";
  parked.take().send(Response::text(200, "first"));
  bool closed = false;
  std::string reply = raw.read_until_close(&closed);
  EXPECT_TRUE(closed);
  auto first = reply.find("first"), second = reply.find("now");
  ASSERT_NE(first, std::string::npos) << reply;
  ASSERT_NE(second, std::string::npos) << reply;
  EXPECT_LT(first, second);
}

TEST(AsyncServer, DroppedResponderAnswers500) {
  Router router;
  router.add_async("GET", "/forget", [](Request&, Responder) {});
  router.add_async("GET", "/throw", [](Request&, Responder) { throw std::runtime_error("bug"); });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server, 5s);
  auto r = c.get("/forget");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("without an answer"), std::string::npos) << r->body;
  r = c.get("/throw");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("bug"), std::string::npos) << r->body;
}

TEST(AsyncServer, StreamsAChunkedBodyWithBackPressure) {
  std::atomic<int> pieces_done{0};
  Router router;
  router.add_async("GET", "/stream", [&](Request&, Responder r) {
    r.begin(ResponseHead{200, "text/event-stream", {{"Cache-Control", "no-cache"}}, std::nullopt});
    // Each piece is written only after the previous one reached the kernel.
    auto step = std::make_shared<std::function<void(int)>>();
    *step = [r, step, &pieces_done](int i) {
      if (i == 5) {
        r.finish();
        return;
      }
      r.write("data: " + std::to_string(i) + "\n\n", [r, step, i, &pieces_done](Status s) {
        EXPECT_TRUE(s.is_ok()) << s.to_string();
        pieces_done++;
        std::thread([step, i] { (*step)(i + 1); }).detach();  // the next piece comes from elsewhere
      });
    };
    (*step)(0);
  });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string reply = raw.read_until("0\r\n\r\n");
  EXPECT_NE(reply.find("Transfer-Encoding: chunked"), std::string::npos) << reply;
  EXPECT_NE(reply.find("text/event-stream"), std::string::npos) << reply;
  for (int i = 0; i < 5; ++i) EXPECT_NE(reply.find("data: " + std::to_string(i) + "\n\n"), std::string::npos) << reply;
  EXPECT_EQ(pieces_done, 5);
  // The connection stays usable.
  ASSERT_TRUE(raw.send("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  reply = raw.read_until_close(&closed);
  EXPECT_NE(reply.find("data: 4"), std::string::npos);
}

TEST(AsyncServer, StreamsWithContentLengthAndFromAFile) {
  const std::string path = (std::filesystem::temp_directory_path() / "thaw_async_file.bin").string();
  std::string content(300'000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + i % 26);
  std::ofstream(path, std::ios::binary) << content;
  Router router;
  router.add_async("GET", "/file", [&](Request&, Responder r) {
    r.begin(ResponseHead{200, "application/octet-stream", {}, content.size() - 10 + 5});
    r.write("head:");
    r.write_file(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), 10, content.size() - 10);
    r.finish();
  });
  router.add_async("GET", "/chunked-file", [&](Request&, Responder r) {
    r.begin(ResponseHead{200, "application/octet-stream", {}, std::nullopt});
    r.write_file(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), 0, content.size());
    r.finish();
  });
  router.add_async("GET", "/short", [&](Request&, Responder r) {
    r.begin(ResponseHead{200, "text/plain", {}, 100});
    r.write("only a little");
    r.finish();
  });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  Client c = client_for(*server);
  auto r = c.get("/file");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->body, "head:" + content.substr(10));
  r = c.get("/chunked-file");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->body, content);
  EXPECT_EQ(r->header("Transfer-Encoding").value_or(""), "chunked");
  // A body that ends short of its Content-Length cuts the connection instead of lying.
  r = c.get("/short");
  EXPECT_FALSE(r.is_ok());
  std::filesystem::remove(path);
}

TEST(AsyncServer, AStreamNobodyEndsIsCut) {
  Router router;
  router.add_async("GET", "/abandoned", [](Request&, Responder r) {
    r.begin(ResponseHead{200, "text/plain", {}, std::nullopt});
    r.write("partial");
  });  // every copy of the responder is gone
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("GET /abandoned HTTP/1.1\r\nHost: x\r\n\r\n"));
  bool closed = false;
  std::string reply = raw.read_until_close(&closed);
  EXPECT_TRUE(closed) << "the connection is cut, not left hanging";
  EXPECT_EQ(reply.find("0\r\n\r\n"), std::string::npos) << "no last chunk: the client sees a truncated body";
}

TEST(AsyncServer, HeadOfAStreamSendsNoBody) {
  Router router;
  router.add_async("GET", "/s", [](Request&, Responder r) {
    r.begin(ResponseHead{200, "text/plain", {}, 5});
    r.write("hello");
    r.finish();
  });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("HEAD /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  std::string reply = raw.read_until_close(&closed);
  EXPECT_NE(reply.find("Content-Length: 5"), std::string::npos) << reply;
  EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), "");
}

TEST(AsyncServer, ClientThatStopsReadingAStreamIsCutOffAndTheProducerTold) {
  std::promise<Status> failed;
  std::atomic<bool> reported{false};
  Router router;
  router.add_async("GET", "/flood", [&](Request&, Responder r) {
    r.begin(ResponseHead{200, "application/octet-stream", {}, std::nullopt});
    auto step = std::make_shared<std::function<void()>>();
    *step = [r, step, &failed, &reported] {
      r.write(std::string(1 << 20, 'x'), [step, &failed, &reported](Status s) {
        if (!s.is_ok()) {
          if (!reported.exchange(true)) failed.set_value(s);
          return;
        }
        (*step)();
      });
    };
    (*step)();
  });
  ServerOptions o = loops(2);
  o.write_timeout = 300ms;
  auto server = start(o, std::move(router));
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"));  // and never read
  auto f = failed.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  EXPECT_FALSE(f.get().is_ok());
  EXPECT_TRUE(eventually([&] { return server->stats().timeouts >= 1; }));
}

TEST(AsyncServer, StopCancelsWaitingRequestsAndDropsLateAnswers) {
  Parked parked;
  Router router;
  router.add_async("GET", "/wait", [&](Request&, Responder r) { parked.park(std::move(r)); });
  auto server = start(loops(2), std::move(router));
  ASSERT_NE(server, nullptr);
  auto pending = std::async(std::launch::async, [&] { return client_for(*server).get("/wait"); });
  ASSERT_TRUE(parked.wait_for(1));
  server->stop(100ms);
  EXPECT_EQ(parked.cancelled, 1);
  EXPECT_FALSE(pending.get().is_ok()) << "the connection was closed";
  Responder late = parked.take();
  EXPECT_FALSE(late.send(Response::text(200, "after the stop")));
  server.reset();  // the responder outlives the server harmlessly
  late.write("x", [](Status s) { EXPECT_FALSE(s.is_ok()); });
}

TEST(AsyncServer, SharedLoopServerRunsAsyncHandlersToo) {
  Router router;
  router.add_async("GET", "/later", [](Request& req, Responder r) {
    std::thread([r, path = req.path] { r.send(Response::text(200, path)); }).detach();
  });
  ServerOptions o;
  o.threads = 3;
  auto server = start(o, std::move(router));
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 10; ++i) {
    auto r = client_for(*server).get("/later");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->body, "/later");
  }
}

}  // namespace
}  // namespace thaw::http
