// The cache served by http::Server: bundles and chunks streamed through asynchronous handlers,
// HEAD and ranges on misses and hits, clients that stall or hang up mid-body, a full waiting pool.
#include "cache/cache_routes.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "bundle/bundle.h"
#include "http/client.h"
#include "test_bundle.h"
#include "test_registry.h"

namespace thaw::cache {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::make_bundle;

// A client socket with a small receive window, so a client that stops reading stalls the server.
class StalledClient {
 public:
  explicit StalledClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    int small = 16 << 10;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{20, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  bool send(const std::string& s) {
    return ::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size());
  }
  // Reads at least `n` bytes (or until the connection ends).
  size_t read(size_t n) {
    size_t got = 0;
    char buf[65536];
    while (got < n) {
      ssize_t k = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (k <= 0) break;
      got += static_cast<size_t>(k);
    }
    return got;
  }
  bool connected() const { return connected_; }
  void close() { fd_.reset(); }  // unread bytes pending: the peer sees a reset

 private:
  UniqueFd fd_;
  bool connected_ = false;
};

bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 4000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

class CacheRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    big_ = new std::string(make_bundle("m", 6, 4 << 20, 1, 1 << 20));  // 24 MiB in 1 MiB chunks
    small_ = new std::string(make_bundle("n", 2, 1 << 20, 100, 256 << 10));
  }
  static void TearDownTestSuite() {
    delete big_;
    delete small_;
  }

  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("thaw-routes-{}-{}", ::getpid(), counter_++);
    fs::remove_all(dir_);
    registry_.put("m", "1", *big_);
    registry_.put("n", "1", *small_);
  }
  void TearDown() override {
    registry_.release();
    if (server_) server_->stop(0ms);
    server_.reset();
    routes_.reset();
    service_.reset();
    fs::remove_all(dir_);
  }

  void start(RoutesOptions routes = {}, std::chrono::milliseconds io_timeout = 10s) {
    CacheOptions o;
    o.dir = dir_.string();
    o.upstream.url = registry_.url();
    o.upstream.timeout = 20s;
    o.upstream.retry.max_attempts = 1;
    o.fetch_threads = 2;
    o.verify_on_start = false;
    auto service = CacheService::open(o, clock_, sleeper_);
    ASSERT_TRUE(service.is_ok()) << service.status().to_string();
    service_ = std::move(*service);
    routes_ = std::make_unique<CacheRoutes>(*service_, routes);
    http::ServerOptions so = cache_server_options(http::Endpoint::tcp("127.0.0.1", 0), io_timeout);
    so.threads = 3;
    auto server = http::Server::listen(so, routes_->router());
    ASSERT_TRUE(server.is_ok()) << server.status().to_string();
    server_ = std::move(*server);
    server_->start();
  }

  http::Client client() const {
    return http::Client(http::ClientOptions{server_->endpoint(), 30s, uint64_t{1} << 30, {}});
  }
  uint64_t leases() {
    uint64_t n = 0;
    const auto stats = service_->stats_json();  // a range-for over a member of a temporary dangles
    for (const auto& v : stats["versions"]) n += v["in_use"].get<uint64_t>();
    return n;
  }
  bool store_has_temps() const {
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "chunks"))
      if (e.path().extension() == ".tmp") return true;
    return false;
  }
  nlohmann::json serving() { return routes_->stats_json()["serving"]; }

  static inline std::string* big_ = nullptr;
  static inline std::string* small_ = nullptr;
  static inline int counter_ = 0;
  testing::TestRegistry registry_;  // first: the cache goes before its upstream
  SteadyClock clock_;
  RealSleeper sleeper_;
  fs::path dir_;
  std::unique_ptr<CacheService> service_;
  std::unique_ptr<CacheRoutes> routes_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(CacheRoutesTest, HeadAndRangesOnAMissAndOnAHit) {
  start();
  const std::string& want = *big_;
  const std::string size = std::to_string(want.size());
  http::Client c = client();
  // HEAD of a cold version: the head alone, as a GET would send it.
  auto r = c.request("HEAD", "/models/m/1");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("X-Thaw-Cache").value_or(""), "miss");
  EXPECT_EQ(r->header("Content-Length").value_or(""), size);
  EXPECT_EQ(r->header("ETag").value_or(""), "\"m-1\"");
  EXPECT_EQ(r->header("Accept-Ranges").value_or(""), "bytes");
  EXPECT_TRUE(r->body.empty());
  // A range in the middle of a version still being fetched.
  r = c.get("/models/m/1", {{"Range", "bytes=5000000-9000000"}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, want.substr(5000000, 4000001));
  EXPECT_EQ(r->header("Content-Range").value_or(""), "bytes 5000000-9000000/" + size);
  ASSERT_TRUE(eventually([&] { return service_->stats_json()["versions"][0]["complete"].get<bool>(); }));
  r = c.request("HEAD", "/models/m/1");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->header("X-Thaw-Cache").value_or(""), "hit");
  EXPECT_TRUE(r->body.empty());
  for (auto [range, first, length] :
       {std::tuple{"bytes=0-99", uint64_t{0}, uint64_t{100}},
        std::tuple{"bytes=-4096", want.size() - 4096, uint64_t{4096}},
        std::tuple{"bytes=1048570-3145740", uint64_t{1048570}, uint64_t{2097171}}}) {
    r = c.get("/models/m/1", {{"Range", range}});
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->status, 206) << range;
    EXPECT_EQ(r->header("X-Thaw-Cache").value_or(""), "hit");
    EXPECT_TRUE(r->body == want.substr(first, length)) << range;
  }
  r = c.request("HEAD", "/models/m/1", {{"Range", "bytes=100-199"}});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->header("Content-Length").value_or(""), "100");
  r = c.get("/models/m/1", {{"Range", "bytes=" + size + "-"}});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->header("Content-Range").value_or(""), "bytes */" + size);
  r = c.get("/models/m/1");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == want);
  EXPECT_EQ(routes_->active_streams(), 0u);
}

TEST_F(CacheRoutesTest, ChunksByIdWithHeadAndRange) {
  start();
  ASSERT_TRUE(service_->prefetch("n", "1").is_ok());
  auto lease = service_->open_version("n", "1");
  ASSERT_TRUE(lease.is_ok());
  const RecipeChunk& chunk = lease->recipe().chunks[1];
  const std::string stored = small_->substr(chunk.file_offset, chunk.stored_length);
  http::Client c = client();
  auto r = c.get("/chunks/" + chunk.id);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("X-Thaw-Chunk-Encoding").value_or(""), "raw");
  EXPECT_TRUE(r->body == stored);
  r = c.get("/chunks/" + chunk.id, {{"Range", "bytes=10-"}});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 206);
  EXPECT_TRUE(r->body == stored.substr(10));
  r = c.request("HEAD", "/chunks/" + chunk.id);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->header("Content-Length").value_or(""), std::to_string(stored.size()));
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(c.get("/chunks/" + std::string(32, '0'))->status, 404);
  EXPECT_EQ(c.get("/chunks/xyz")->status, 400);
}

TEST_F(CacheRoutesTest, AClientThatStopsReadingHoldsNoThreadAndIsCutAfterTheWriteTimeout) {
  start({.wait_threads = 1}, 3s);
  ASSERT_TRUE(service_->prefetch("m", "1").is_ok());
  StalledClient stalled(server_->endpoint().port);
  ASSERT_TRUE(stalled.connected());
  ASSERT_TRUE(stalled.send("GET /models/m/1 HTTP/1.1\r\nHost: x\r\n\r\n"));  // and never reads
  ASSERT_TRUE(eventually([&] { return routes_->active_streams() == 1; }));
  // Meanwhile others are served: a hit, and a miss that needs the pool's only thread.
  http::Client c = client();
  auto hit = c.get("/models/m/1");
  ASSERT_TRUE(hit.is_ok()) << hit.status().to_string();
  EXPECT_TRUE(hit->body == *big_);
  auto miss = c.get("/models/n/1");
  ASSERT_TRUE(miss.is_ok()) << miss.status().to_string();
  EXPECT_EQ(miss->header("X-Thaw-Cache").value_or(""), "miss");
  EXPECT_TRUE(miss->body == *small_);
  // All that happened while the stalled stream was still waiting on its client (the others'
  // streams end just after their last byte reached the client).
  EXPECT_EQ(server_->stats().timeouts, 0u);
  EXPECT_TRUE(eventually([&] { return routes_->active_streams() == 1; })) << routes_->active_streams();
  EXPECT_TRUE(eventually([&] { return serving()["wait_busy"] == 0; }));
  // The write timeout cuts it off; its stream ends and lets go of the version.
  ASSERT_TRUE(eventually([&] { return routes_->active_streams() == 0; }));
  EXPECT_GE(server_->stats().timeouts, 1u);
  EXPECT_TRUE(eventually([&] { return leases() == 0; }));
  EXPECT_LT(stalled.read(big_->size()), big_->size()) << "the stalled client got a cut body";
}

TEST_F(CacheRoutesTest, AClientThatHangsUpMidMissStopsItsStreamAndTheFetchStillCompletes) {
  start();
  registry_.hold_from(big_->size() / 2);  // the second half of the bundle waits upstream
  {
    StalledClient gone(server_->endpoint().port);
    ASSERT_TRUE(gone.send("GET /models/m/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_GE(gone.read(256 << 10), 256u << 10);
    ASSERT_TRUE(registry_.wait_held(1));
  }  // hangs up with the download half done
  // Others are served meanwhile.
  http::Client c = client();
  auto other = c.get("/models/n/1");
  ASSERT_TRUE(other.is_ok());
  EXPECT_TRUE(other->body == *small_);
  c.close();
  registry_.release();
  {
    auto lease = service_->open_version("m", "1");
    ASSERT_TRUE(lease.is_ok());
    ASSERT_TRUE(eventually([&] { return service_->complete(lease->recipe()); }));
  }
  EXPECT_TRUE(eventually([&] {
    return routes_->active_streams() == 0 && serving()["wait_busy"] == 0 && leases() == 0 &&
           server_->stats().connections_active == 0;
  })) << routes_->active_streams()
      << " " << serving() << " " << leases() << " " << server_->stats().connections_active;
  EXPECT_FALSE(store_has_temps());
  const uint64_t sent = service_->counters().bytes_served.load();
  EXPECT_LT(sent, big_->size() + small_->size()) << "the stream stopped when its client went away";
  // The next client gets it all from the store.
  const size_t upstream = registry_.requests();
  auto r = c.get("/models/m/1");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->header("X-Thaw-Cache").value_or(""), "hit");
  EXPECT_TRUE(r->body == *big_);
  EXPECT_EQ(registry_.requests(), upstream);
}

TEST_F(CacheRoutesTest, WorkWaitingOnTheUpstreamIsBoundedAndTheRestGets503) {
  start({.wait_threads = 1, .max_waiting = 1});
  registry_.hold_from(0);
  auto first = std::async(std::launch::async, [&] { return client().get("/models/m/1"); });
  ASSERT_TRUE(registry_.wait_held(1));  // the only thread waits for m/1's manifest
  auto second = std::async(std::launch::async, [&] { return client().get("/models/n/1"); });
  ASSERT_TRUE(eventually([&] { return serving()["wait_queued"] == 1; }));
  auto third = client().get("/models/n/1");
  ASSERT_TRUE(third.is_ok());
  EXPECT_EQ(third->status, 503);
  // Loop-only work is still answered at once.
  EXPECT_EQ(client().get("/healthz")->status, 200);
  registry_.release();
  auto a = first.get(), b = second.get();
  ASSERT_TRUE(a.is_ok() && b.is_ok()) << a.status().to_string() << b.status().to_string();
  EXPECT_TRUE(a->body == *big_);
  EXPECT_TRUE(b->body == *small_);
}

TEST_F(CacheRoutesTest, UpstreamErrorsBeforeTheHeadAreCleanStatuses) {
  start();
  http::Client c = client();
  EXPECT_EQ(c.get("/models/nope/1")->status, 404);
  EXPECT_EQ(c.get("/models/a%20b/1")->status, 400);
  EXPECT_EQ(c.get("/models/m/1", {{"Range", "bytes=abc"}})->status, 416);
  EXPECT_EQ(c.get("/nothing")->status, 404);
  EXPECT_EQ(c.post("/models/m/1", "")->status, 405);
  EXPECT_EQ(c.post("/prefetch", "{\"name\": \"m\"}")->status, 400);
  auto p = c.post("/prefetch", "{\"name\": \"n\", \"version\": \"1\"}");
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->status, 200) << p->body;
  EXPECT_EQ(c.get("/models/n/1")->header("X-Thaw-Cache").value_or(""), "hit");
}

TEST(CacheServerOptions, KeepTheCachesLimits) {
  http::ServerOptions o = cache_server_options(http::Endpoint::tcp("127.0.0.1", 8090), 1234ms);
  EXPECT_EQ(o.write_timeout, 1234ms);
  EXPECT_EQ(o.request_timeout, 1234ms);
  EXPECT_EQ(o.idle_timeout, 60s);
  EXPECT_EQ(o.max_connections, 256u);
  EXPECT_EQ(o.max_header_bytes, 16u << 10);
  EXPECT_EQ(o.max_body_bytes, 1u << 20);
  EXPECT_TRUE(o.loop_per_thread);
  EXPECT_GE(o.threads, 3);
}

}  // namespace
}  // namespace thaw::cache
