#include "cache/upstream.h"

#include <gtest/gtest.h>

#include "http/server.h"
#include "test_registry.h"

namespace thaw::cache {
namespace {

TEST(ContentRangeTest, Parses) {
  uint64_t a, b, t;
  EXPECT_TRUE(parse_content_range("bytes 0-99/1000", &a, &b, &t));
  EXPECT_EQ(b, 99u);
  EXPECT_EQ(t, 1000u);
  EXPECT_FALSE(parse_content_range("bytes 0-1000/1000", &a, &b, &t));
  EXPECT_FALSE(parse_content_range("bytes */1000", &a, &b, &t));
  EXPECT_FALSE(parse_content_range("0-1/2", &a, &b, &t));
}

class NoSleep final : public Sleeper {
 public:
  void sleep_for(Nanos) override {}
};

std::string blob(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(i * 7 + (i >> 10));
  return out;
}

std::unique_ptr<Upstream> exact_path(const std::string& url, const Clock& clock, Sleeper& sleeper) {
  UpstreamOptions o;
  o.url = url;
  o.kind = UpstreamKind::kExactPath;
  return std::move(Upstream::create(o, clock, sleeper)).value();
}

// Reads the rest of a stream in uneven pieces.
std::string drain(RangeStream& in) {
  std::string out(in.left(), '\0');
  size_t done = 0;
  for (size_t step = 1000; done < out.size(); step *= 3) {
    const size_t n = std::min(step, out.size() - done);
    EXPECT_TRUE(in.read(std::as_writable_bytes(std::span(out)).subspan(done, n)).is_ok());
    done += n;
  }
  return out;
}

TEST(UpstreamStreamTest, ARangeStreamsIntoTheCallersMemoryPieceByPiece) {
  testing::TestRegistry registry;
  const std::string bytes = blob(3 << 20);
  registry.put("m", "1", bytes);
  SteadyClock clock;
  NoSleep sleeper;
  auto up = exact_path(registry.url(), clock, sleeper);
  for (int round = 0; round < 2; ++round) {
    auto in = up->open_range_once("/m/1.thaw", 12345, 2 << 20);
    ASSERT_TRUE(in.is_ok()) << in.status().to_string();
    EXPECT_EQ((*in)->total_size(), bytes.size());
    EXPECT_EQ((*in)->length(), 2u << 20);
    ASSERT_TRUE((*in)->skip(5).is_ok());
    EXPECT_TRUE(drain(**in) == bytes.substr(12345 + 5, (2 << 20) - 5));
    std::byte more[1];
    EXPECT_EQ((*in)->read(std::span(more)).code(), Code::kInvalidArgument);
  }
  // Past the end: only what the object holds.
  auto tail = up->open_range_once("/m/1.thaw", bytes.size() - 10, 100);
  ASSERT_TRUE(tail.is_ok());
  EXPECT_EQ(drain(**tail), bytes.substr(bytes.size() - 10));
  auto missing = up->open_range_once("/m/2.thaw", 0, 10);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST(UpstreamStreamTest, AServerWithoutRangesSendsTheWholeObjectAndTheRangeIsCutFromIt) {
  const std::string bytes = blob(1 << 20);
  http::Router router;
  router.get("/m/1.thaw", [&](const http::Request&) { return http::Response::text(200, bytes); });
  auto server = http::Server::listen({}, std::move(router));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  SteadyClock clock;
  NoSleep sleeper;
  auto up = exact_path("http://127.0.0.1:" + std::to_string((*server)->endpoint().port), clock, sleeper);
  auto in = up->open_range_once("/m/1.thaw", 4096, 10000);
  ASSERT_TRUE(in.is_ok()) << in.status().to_string();
  EXPECT_EQ((*in)->total_size(), bytes.size());
  EXPECT_EQ((*in)->length(), 10000u);
  EXPECT_EQ(drain(**in), bytes.substr(4096, 10000));
  in->reset();  // the rest of the body is dropped with its connection; the next read still works
  auto again = up->read_once("/m/1.thaw", 100, 50);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(again->bytes, bytes.substr(100, 50));
}

}  // namespace
}  // namespace thaw::cache
