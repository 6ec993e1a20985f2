#include "cache/bundle_fetch.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "cache/chunk_store.h"
#include "test_bundle.h"
#include "test_registry.h"

namespace thaw::cache {
namespace {

namespace fs = std::filesystem;
using testing::make_bundle;

class NoSleep final : public Sleeper {
 public:
  void sleep_for(Nanos) override {}
};

class BundleFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("thaw-fetch-{}-{}", ::getpid(), counter_++);
    fs::create_directories(dir_);
    UpstreamOptions o;
    o.url = registry_.url();
    o.kind = UpstreamKind::kExactPath;  // as the model store makes its sources
    o.retry.max_attempts = 3;
    upstream_ = std::move(Upstream::create(o, clock_, sleeper_)).value();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    return out;
  }

  static inline int counter_ = 0;
  fs::path dir_;
  testing::TestRegistry registry_;
  SteadyClock clock_;
  NoSleep sleeper_;
  std::unique_ptr<Upstream> upstream_;
};

TEST_F(BundleFetchTest, FetchesTheBundleByteForByte) {
  const std::string v1 = make_bundle("m", 4, 1 << 20, 1, 256 << 10);
  registry_.put("m", "1", v1);
  const std::string dest = (dir_ / "1.thaw").string();
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", dest, {});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*read_whole_file(dest), v1);
  EXPECT_EQ(r->file_bytes, v1.size());
  EXPECT_EQ(r->reused_bytes, 0u);
  EXPECT_GE(r->fetched_bytes, v1.size() - 4096);
  EXPECT_EQ(files(), std::vector<std::string>{"1.thaw"});
}

TEST_F(BundleFetchTest, WithoutDurableTheFileIsRenamedAtOnceAndSyncedLater) {
  const std::string v1 = make_bundle("m", 2, 1 << 20, 1, 256 << 10);
  registry_.put("m", "1", v1);
  const std::string dest = (dir_ / "1.thaw").string();
  BundleFetchOptions o;
  o.durable = false;
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", dest, o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*read_whole_file(dest), v1);
  EXPECT_EQ(files(), std::vector<std::string>{"1.thaw"}) << "no temp file left";
  EXPECT_TRUE(sync_file_and_dir(dest).is_ok());
  auto missing = sync_file_and_dir((dir_ / "2.thaw").string());
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.code(), Code::kIo);
}

TEST_F(BundleFetchTest, ANewVersionFetchesOnlyTheChunksItDoesNotShare) {
  // Ten tensors; version 2 changes the first one: 90 % of the chunk bytes are shared.
  const std::string v1 = make_bundle("m", 10, 1 << 20, 1, 256 << 10);
  const std::string v2 = make_bundle("m", 10, 1 << 20, 1, 256 << 10, {99, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  registry_.put("m", "1", v1);
  registry_.put("m", "2", v2);
  const std::string d1 = (dir_ / "1.thaw").string(), d2 = (dir_ / "2.thaw").string();
  auto full = fetch_bundle(*upstream_, "/m/1.thaw", d1, {});
  ASSERT_TRUE(full.is_ok()) << full.status().to_string();
  BundleFetchOptions o;
  o.local = {d1};
  auto delta = fetch_bundle(*upstream_, "/m/2.thaw", d2, o);
  ASSERT_TRUE(delta.is_ok()) << delta.status().to_string();
  EXPECT_EQ(*read_whole_file(d2), v2);
  EXPECT_GE(delta->chunks_reused * 10, delta->chunks * 8);
  EXPECT_LE(delta->fetched_bytes, full->fetched_bytes * 15 / 100);
}

TEST_F(BundleFetchTest, AMissingBundleIsABadGatewayAndLeavesNothing) {
  auto r = fetch_bundle(*upstream_, "/m/404.thaw", (dir_ / "x.thaw").string(), {});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUpstream);
  EXPECT_NE(r.status().message().find("no such bundle"), std::string::npos);
  EXPECT_TRUE(files().empty());
}

TEST_F(BundleFetchTest, ADifferentHashIsABadGatewayAndLeavesNothing) {
  registry_.put("m", "1", make_bundle("m", 2, 1 << 20, 1, 256 << 10));
  BundleFetchOptions o;
  o.sha256 = std::string(64, 'a');
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", (dir_ / "1.thaw").string(), o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUpstream);
  EXPECT_NE(r.status().message().find("SHA-256"), std::string::npos);
  EXPECT_TRUE(files().empty());
}

TEST_F(BundleFetchTest, TheRightHashPasses) {
  const std::string v1 = make_bundle("m", 2, 1 << 20, 1, 256 << 10);
  registry_.put("m", "1", v1);
  const std::string probe = (dir_ / "probe").string();
  ASSERT_TRUE(write_file_atomic(probe, std::as_bytes(std::span(v1)), ".tmp").is_ok());
  BundleFetchOptions o;
  o.sha256 = *sha256_of_file(probe);
  fs::remove(probe);
  EXPECT_TRUE(fetch_bundle(*upstream_, "/m/1.thaw", (dir_ / "1.thaw").string(), o).is_ok());
}

TEST_F(BundleFetchTest, CorruptChunksAreABadGatewayAndLeaveNothing) {
  std::string v1 = make_bundle("m", 2, 1 << 20, 1, 256 << 10);
  v1[v1.size() - 1000] ^= 0x5a;  // a byte of the last chunk
  registry_.put("m", "1", v1);
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", (dir_ / "1.thaw").string(), {});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUpstream);
  EXPECT_TRUE(files().empty());
}

TEST_F(BundleFetchTest, AChunkThatFailsItsIdOnceIsFetchedAgainFromThere) {
  // One request streams the whole bundle; a bad byte in its last chunk resumes from that chunk.
  const std::string v1 = make_bundle("m", 4, 1 << 20, 1, 256 << 10);
  registry_.put("m", "1", v1);
  registry_.corrupt_once(v1.size() - 1000);
  BundleFetchOptions o;
  o.parallel = 1;
  const std::string dest = (dir_ / "1.thaw").string();
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", dest, o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*read_whole_file(dest), v1);
  EXPECT_EQ(upstream_->stats().retries.load(), 1u);
  EXPECT_LT(r->fetched_bytes, v1.size() + (1u << 20));  // the rest again, not the whole file
  EXPECT_EQ(files(), std::vector<std::string>{"1.thaw"});
}

TEST_F(BundleFetchTest, AnUnreachableSourceIsUnavailable) {
  UpstreamOptions o;
  o.url = "http://127.0.0.1:9";
  o.retry.max_attempts = 2;
  auto dead = std::move(Upstream::create(o, clock_, sleeper_)).value();
  auto r = fetch_bundle(*dead, "/m/1.thaw", (dir_ / "1.thaw").string(), {});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("unreachable"), std::string::npos);
  EXPECT_TRUE(files().empty());
}

// Start while fetching: the byte ranges of the last tensor stand for what a start reads.
std::pair<uint64_t, uint64_t> last_tensor(const bundle::Manifest& m) {
  const bundle::TensorEntry& t = m.tensors.back();
  return {m.data_offset + t.offset, t.length};
}

TEST_F(BundleFetchTest, TheBytesAStartNeedsArriveFirstThenTheCallbackThenTheRest) {
  const std::string v1 = make_bundle("m", 4, 1 << 20, 1, 256 << 10);
  registry_.put("m", "1", v1);
  const std::string dest = (dir_ / "1.thaw").string();
  std::pair<uint64_t, uint64_t> need, first_tensor;
  int calls = 0;
  BundleFetchOptions o;
  o.first_ranges = [&](const bundle::Manifest& m) {
    need = last_tensor(m);
    first_tensor = {m.data_offset + m.tensors.front().offset, m.tensors.front().length};
    return std::vector{need};
  };
  o.on_first_phase = [&](const std::string& temp) {
    ++calls;
    EXPECT_NE(temp, dest);
    EXPECT_FALSE(fs::exists(dest)) << "called before the rename";
    auto bytes = read_whole_file(temp);
    ASSERT_TRUE(bytes.is_ok());
    ASSERT_EQ(bytes->size(), v1.size());
    EXPECT_EQ(bytes->substr(need.first, need.second), v1.substr(need.first, need.second)) << "needed bytes all there";
    EXPECT_EQ(bytes->substr(0, 4096), v1.substr(0, 4096)) << "the head is written first";
    EXPECT_EQ(bytes->substr(first_tensor.first, first_tensor.second), std::string(first_tensor.second, '\0'))
        << "the rest is not fetched yet";
  };
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", dest, o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(*read_whole_file(dest), v1);
  EXPECT_EQ(r->first_phase_bytes, need.second);  // the last tensor is 4 whole chunks
  EXPECT_GT(r->first_phase_seconds, 0.0);
  EXPECT_EQ(files(), std::vector<std::string>{"1.thaw"});
}

TEST_F(BundleFetchTest, WithoutRangesThereIsNoFirstPhase) {
  registry_.put("m", "1", make_bundle("m", 2, 1 << 20, 1, 256 << 10));
  int calls = 0;
  BundleFetchOptions o;
  o.first_ranges = [](const bundle::Manifest&) { return std::vector<std::pair<uint64_t, uint64_t>>{}; };
  o.on_first_phase = [&](const std::string&) { ++calls; };
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", (dir_ / "1.thaw").string(), o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(r->first_phase_seconds, 0.0);
}

TEST_F(BundleFetchTest, ARestThatNeverVerifiesFailsAfterTheFirstPhaseAndLeavesNothing) {
  std::string v1 = make_bundle("m", 4, 1 << 20, 1, 256 << 10);
  std::pair<uint64_t, uint64_t> need;
  {
    auto reader = bundle::Reader::from_memory(std::as_bytes(std::span(v1)));
    ASSERT_TRUE(reader.is_ok());
    need = last_tensor(reader->manifest());
    v1[reader->manifest().data_offset + 10] ^= 0x5a;  // a byte of the first tensor: the rest
  }
  registry_.put("m", "1", v1);
  std::string temp;
  BundleFetchOptions o;
  o.first_ranges = [&](const bundle::Manifest&) { return std::vector{need}; };
  o.on_first_phase = [&](const std::string& t) { temp = t; };
  auto r = fetch_bundle(*upstream_, "/m/1.thaw", (dir_ / "1.thaw").string(), o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUpstream);
  EXPECT_FALSE(temp.empty()) << "the first phase passed";
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(files().empty());
}

TEST(SourceUrlTest, SplitsAndRefuses) {
  auto u = parse_source_url("http://127.0.0.1:8090/models/minilm/3");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->base, "http://127.0.0.1:8090");
  EXPECT_EQ(u->path, "/models/minilm/3");
  EXPECT_EQ(u->version, "3");
  EXPECT_EQ(parse_source_url("http://h:1/b/m/v2.thaw")->version, "v2");
  for (const char* bad : {"https://h/m/1", "http://h", "http:///m/1", "http://h/m/1?x=1", "http://h/m/..", "ftp://h/m/1"})
    EXPECT_FALSE(parse_source_url(bad).is_ok()) << bad;
}

TEST(Sha256Test, Parses) {
  const std::string hex(64, 'A');
  EXPECT_EQ(*parse_sha256("sha256:" + hex), std::string(64, 'a'));
  EXPECT_FALSE(parse_sha256("sha256:abc").is_ok());
  EXPECT_FALSE(parse_sha256(std::string(64, 'g')).is_ok());
}

}  // namespace
}  // namespace thaw::cache
