// The server against misbehaving clients: smuggling attempts, trickled heads, one address holding
// many connections, running out of descriptors, clients that hang up; and its request log.
#include <signal.h>
#include <sys/socket.h>

#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/fd_reserve.h"
#include "http/server.h"
#include "test_util.h"

namespace thaw::http {
namespace {
using namespace std::chrono_literals;
using testing::RawConnection;

Router hello_router() {
  Router router;
  router.get("/hello", [](const Request&) { return Response::text(200, "hi"); });
  router.add_async("POST", "/who", [](Request& r, Responder responder) {
    responder.set_user("alice");
    responder.send(Response::text(200, r.remote));
  });
  return router;
}

std::unique_ptr<Server> start(ServerOptions o, Router router = hello_router()) {
  return testing::start_server(std::move(o), std::move(router));
}

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 2000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST(ServerSecurity, ASmuggledSecondRequestIsNeverServed) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  const std::string hidden = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::string framing : {"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                              "Content-Length: 5\r\nTransfer-Encoding: chunked, identity\r\n",
                              "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n"}) {
    RawConnection raw(server->endpoint());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.send("POST /hello HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n0\r\n\r\n" + hidden));
    bool closed = false;
    std::string reply = raw.read_until_close(&closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
    EXPECT_EQ(reply.find("hi"), std::string::npos) << "the hidden request ran: " << reply;
  }
  EXPECT_EQ(server->stats().requests, 0u);
  EXPECT_EQ(server->stats().bad_requests, 3u);
}

TEST(ServerSecurity, AHeadTrickledInIsCutAtTheHeaderTimeout) {
  ServerOptions o;
  o.header_timeout = 300ms;
  o.request_timeout = 60s;  // only the head's own deadline can cut this client
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  RawConnection slow(server->endpoint());
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.send("GET /hello HTTP/1.1\r\n"));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop && slow.send("X")) std::this_thread::sleep_for(20ms);
  });
  bool closed = false;
  std::string reply = slow.read_until_close(&closed);
  stop = true;
  trickle.join();
  EXPECT_TRUE(closed) << "a byte now and then kept the head alive";
  EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 408", 0) == 0) << reply;
  EXPECT_EQ(server->stats().timeouts, 1u);
}

TEST(ServerSecurity, OneAddressCannotHoldMoreThanItsShare) {
  ServerOptions o;
  o.max_connections_per_client = 2;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  auto first = std::make_unique<RawConnection>(server->endpoint());
  RawConnection second(server->endpoint());
  ASSERT_TRUE(eventually([&] { return server->stats().connections_active == 2; }));
  {
    RawConnection third(server->endpoint());
    bool closed = false;
    std::string reply = third.read_until_close(&closed);
    EXPECT_EQ(reply.rfind("HTTP/1.1 503", 0), 0u) << reply;
    EXPECT_NE(reply.find("your address"), std::string::npos) << reply;
  }
  EXPECT_EQ(server->stats().connections_rejected, 1u);
  first.reset();  // gives its slot back
  ASSERT_TRUE(eventually([&] { return server->stats().connections_active == 1; }));
  RawConnection fourth(server->endpoint());
  ASSERT_TRUE(fourth.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  EXPECT_EQ(fourth.read_until_close(&closed).rfind("HTTP/1.1 200", 0), 0u);
}

TEST(ServerSecurity, ServersIgnoreSigpipe) {
  auto server = start({});
  ASSERT_NE(server, nullptr);
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &current), 0);
  EXPECT_EQ(current.sa_handler, SIG_IGN) << "a client hanging up mid-sendfile would kill the process";
}

TEST(DescriptorReserve, ShedsAWaitingConnectionWithAnAnswer) {
  boost::system::error_code emfile(EMFILE, boost::system::system_category());
  EXPECT_TRUE(out_of_descriptors(emfile));
  EXPECT_FALSE(out_of_descriptors(boost::system::error_code(ECONNABORTED, boost::system::system_category())));

  ServerOptions o;  // only for a listening socket and its endpoint
  auto server = Server::listen(o, hello_router());
  ASSERT_TRUE(server.is_ok());
  // Not started: the connection waits in the backlog, as it does while descriptors are out.
  RawConnection waiting((*server)->endpoint());
  ASSERT_TRUE(waiting.connected());
  ASSERT_TRUE(waiting.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  // The listening descriptor is the server's; find it by its port.
  int listen_fd = -1;
  for (int fd = 3; fd < 1024 && listen_fd < 0; ++fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int accepting = 0;
    socklen_t alen = sizeof(accepting);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) == 0 && accepting && addr.ss_family == AF_INET &&
        ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port) == (*server)->endpoint().port)
      listen_fd = fd;
  }
  ASSERT_GE(listen_fd, 0);
  DescriptorReserve reserve;
  EXPECT_TRUE(reserve.holding());
  EXPECT_TRUE(reserve.shed(listen_fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(reserve.holding()) << "the spare is taken again for next time";
  bool closed = false;
  EXPECT_EQ(waiting.read_until_close(&closed).rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_TRUE(closed);
}

struct Captured : RequestLog {
  std::mutex mu;
  std::vector<std::string> lines;
  void record(const RequestRecord& r) override {
    std::lock_guard lock(mu);
    lines.push_back(std::string(r.remote) + "|" + std::string(r.user) + "|" + std::string(r.method) + "|" +
                    std::string(r.target) + "|" + std::to_string(r.status));
  }
  size_t size() {
    std::lock_guard lock(mu);
    return lines.size();
  }
};

TEST(ServerSecurity, TheRequestLogNamesTheClientAndTheCaller) {
  auto log = std::make_shared<Captured>();
  ServerOptions o;
  o.request_log = log;
  auto server = start(o);
  ASSERT_NE(server, nullptr);
  RawConnection raw(server->endpoint());
  ASSERT_TRUE(raw.send("POST /who HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
  std::string reply = raw.read_until("127.0.0.1:");
  EXPECT_NE(reply.find("\r\n\r\n127.0.0.1:"), std::string::npos) << "Request::remote: " << reply;
  ASSERT_TRUE(raw.send("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"));
  bool closed = false;
  raw.read_until_close(&closed);
  ASSERT_TRUE(eventually([&] { return log->size() == 2; }));
  EXPECT_EQ(log->lines[0].rfind("127.0.0.1:", 0), 0u) << log->lines[0];
  EXPECT_NE(log->lines[0].find("|alice|POST|/who|200"), std::string::npos) << log->lines[0];
  EXPECT_NE(log->lines[1].find("||GET|/hello|400"), std::string::npos) << log->lines[1];
}

TEST(AccessLog, EscapesWhatAClientSends) {
  RequestRecord r;
  r.remote = "127.0.0.1:5";
  r.method = "GET";
  const std::string target = "/x\"\n127.0.0.1 forged";
  r.target = target;
  r.status = 404;
  const std::string line = AccessLog::format(r, std::chrono::system_clock::time_point{});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\\\"\\x0a127.0.0.1 forged"), std::string::npos) << line;
  EXPECT_EQ(line.rfind("127.0.0.1:5 - - [01/Jan/1970:00:00:00 +0000] \"GET ", 0), 0u) << line;
}

}  // namespace
}  // namespace thaw::http
