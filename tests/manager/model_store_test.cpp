#include "manager/model_store.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../cache/test_bundle.h"
#include "bundle/bundle.h"
#include "bundle/verified_cache.h"
#include "../cache/test_registry.h"

namespace thaw::manager {
namespace {

namespace fs = std::filesystem;

class ModelStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("thaw-store-{}-{}", ::getpid(), counter_++);
    bundle_ = cache::testing::make_bundle("m", 2, 1 << 20, 1, 256 << 10);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<ModelStore> open(uint64_t budget) {
    StoreOptions o;
    o.dir = dir_.string();
    o.budget_bytes = budget;
    return std::move(ModelStore::open(o, clock_)).value();
  }
  std::string add(ModelStore& s, const std::string& name, bool pinned = false) {
    return *s.add({name, "1", registry_.url() + "/" + name + "/1.thaw", "", pinned});
  }

  // A copy an earlier store fetched and recorded durable.
  std::string fetched_by_an_earlier_run(const std::string& name) {
    registry_.put(name, "1", bundle_);
    auto store = open(0);
    const std::string path = add(*store, name);
    EXPECT_TRUE(store->ensure(path).is_ok());
    store->wait_durable();
    EXPECT_TRUE(recorded_durable(path));
    return path;
  }

  static inline int counter_ = 0;
  fs::path dir_;
  std::string bundle_;
  cache::testing::TestRegistry registry_;
  ManualClock clock_;
};

TEST_F(ModelStoreTest, FetchesOnFirstNeedAndPricesTheRegistryRung) {
  registry_.put("a", "1", bundle_);
  auto store = open(0);
  const std::string a = add(*store, "a");
  EXPECT_EQ(a, (dir_ / "a" / "1.thaw").string());
  EXPECT_TRUE(store->knows(a));
  EXPECT_FALSE(store->present(a));
  ASSERT_TRUE(store->probe(a).is_ok());
  EXPECT_EQ(store->size_of(a), bundle_.size());
  EXPECT_GT(store->fetch_cost_ms(a), store->options().default_latency_ms);
  auto lease = store->ensure(a);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_TRUE(store->present(a));
  EXPECT_EQ(store->fetch_cost_ms(a), 0.0);
  EXPECT_EQ(*cache::read_whole_file(a), bundle_);
}

TEST_F(ModelStoreTest, AModelThatStartedOnItsFirstPhaseIsPricedByThatPhase) {
  registry_.put("a", "1", bundle_);
  registry_.put("b", "1", bundle_);
  auto reader = bundle::Reader::from_memory(std::as_bytes(std::span(bundle_)));
  const bundle::Manifest& m = reader->manifest();
  StoreOptions o;
  o.dir = dir_.string();
  o.budget_bytes = bundle_.size() * 3 / 2;  // room for one copy
  o.start_ranges = [&](const bundle::Manifest&) {
    return std::vector<std::pair<uint64_t, uint64_t>>{{m.data_offset + m.tensors[0].offset, m.tensors[0].length}};
  };
  auto store = std::move(ModelStore::open(o, clock_)).value();
  const std::string a = add(*store, "a"), b = add(*store, "b");
  ASSERT_TRUE(store->probe(a).is_ok());
  const double whole = store->fetch_cost_ms(a);
  bool began = false;
  ASSERT_TRUE(store->ensure(a, [&](const std::string&) { began = true; }).is_ok());
  ASSERT_TRUE(began);
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(store->ensure(b).is_ok());  // evicts a
  ASSERT_FALSE(store->present(a));
  const auto first_phase = store->describe()["models"][0]["last_fetch"]["first_phase_bytes"].get<uint64_t>();
  ASSERT_GT(first_phase, 0u);
  ASSERT_LT(first_phase, bundle_.size());
  // (No time passes on the test's clock during a fetch: the defaults price it.)
  const double lat = o.default_latency_ms, bw = o.default_bandwidth_mb_s;
  EXPECT_DOUBLE_EQ(whole, lat + static_cast<double>(bundle_.size()) / (bw * 1e6) * 1000.0);
  EXPECT_DOUBLE_EQ(store->fetch_cost_ms(a), lat + static_cast<double>(first_phase) / (bw * 1e6) * 1000.0);
}

TEST_F(ModelStoreTest, TheBudgetEvictsTheLeastRecentlyUsedUnpinnedUnusedCopy) {
  for (const char* n : {"a", "b", "p"}) registry_.put(n, "1", bundle_);
  auto store = open(bundle_.size() * 5 / 2);  // room for two
  const std::string p = add(*store, "p", true), a = add(*store, "a"), b = add(*store, "b");
  ASSERT_TRUE(store->ensure(p).is_ok());
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(store->ensure(a).is_ok());
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(store->ensure(b).is_ok());
  EXPECT_TRUE(store->present(p)) << "pinned";
  EXPECT_FALSE(store->present(a)) << "least recently used";
  EXPECT_FALSE(fs::exists(a));
  EXPECT_TRUE(store->present(b));
  EXPECT_GT(store->fetch_cost_ms(a), 0.0);
  EXPECT_EQ(store->describe()["models"].size(), 3u);
}

TEST_F(ModelStoreTest, ACopyInUseIsKeptAndABundleThatCannotFitIsRefusedNamingTheBudget) {
  for (const char* n : {"a", "b"}) registry_.put(n, "1", bundle_);
  auto store = open(bundle_.size() * 3 / 2);  // room for one
  const std::string a = add(*store, "a"), b = add(*store, "b");
  auto held = store->ensure(a);
  ASSERT_TRUE(held.is_ok());
  clock_.advance(std::chrono::seconds(1));
  // b cannot fit beside the copy in use: refused before its download, nothing of it on disk.
  const size_t requests = registry_.requests();
  auto refused = store->ensure(b);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kNoSpace);
  EXPECT_NE(refused.status().message().find("store.budget_mb"), std::string::npos) << refused.status().to_string();
  EXPECT_LE(registry_.requests() - requests, 2u) << "the head only, no download";
  EXPECT_TRUE(store->present(a));
  EXPECT_FALSE(store->present(b));
  EXPECT_FALSE(fs::exists(dir_ / "b")) << "nothing of b";
  EXPECT_LE(store->bytes(), store->options().budget_bytes);
  held->reset();
  EXPECT_TRUE(store->present(a)) << "within the budget";
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(store->ensure(b).is_ok());
  EXPECT_FALSE(store->present(a)) << "unused now: the least recently used goes";
  EXPECT_TRUE(store->present(b));
  EXPECT_LE(store->bytes(), store->options().budget_bytes);
}

TEST_F(ModelStoreTest, ABundleLargerThanTheBudgetIsRefused) {
  registry_.put("a", "1", bundle_);
  auto store = open(bundle_.size() / 2);
  auto r = store->ensure(add(*store, "a"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNoSpace);
  EXPECT_NE(r.status().message().find("does not fit in the model store's budget"), std::string::npos)
      << r.status().to_string();
}

TEST_F(ModelStoreTest, TheBudgetMakesRoomBeforeTheDownloadStarts) {
  for (const char* n : {"a", "b"}) registry_.put(n, "1", bundle_);
  auto store = open(bundle_.size() * 3 / 2);  // room for one
  const std::string a = add(*store, "a"), b = add(*store, "b");
  ASSERT_TRUE(store->ensure(a).is_ok());  // present, unused
  clock_.advance(std::chrono::seconds(1));
  // Hold b's download (every read past its head) and look at the store meanwhile.
  registry_.hold_from(1);  // the head (offset 0) passes
  std::thread fetch([&] { EXPECT_TRUE(store->ensure(b).is_ok()); });
  const bool held = registry_.wait_held(1);
  if (!held) {
    registry_.release();
    fetch.join();
    FAIL() << "b's download never started";
  }
  EXPECT_FALSE(store->present(a)) << "evicted before b's bytes arrive";
  EXPECT_FALSE(fs::exists(a));
  EXPECT_EQ(store->describe()["reserved_bytes"].get<uint64_t>(), bundle_.size());
  registry_.release();
  fetch.join();
  EXPECT_TRUE(store->present(b));
  EXPECT_EQ(store->describe()["reserved_bytes"].get<uint64_t>(), 0u);
  EXPECT_LE(store->bytes(), store->options().budget_bytes);
}

TEST_F(ModelStoreTest, AFetchRightAfterAnEvictionKeepsItsNewCopy) {
  // An evicted copy's bytes are deleted after the store's lock is released; a fetch of the same
  // version that completes in that window (here: from inside it) must keep its new file.
  for (const char* n : {"a", "b", "c"}) registry_.put(n, "1", bundle_);
  StoreOptions o;
  o.dir = dir_.string();
  o.budget_bytes = bundle_.size() * 5 / 2;  // room for two
  ModelStore* self = nullptr;
  std::string a;
  std::unique_ptr<ModelStore> store;   // declared first: destroyed after the lease it gave
  std::shared_ptr<StoreLease> again;
  o.on_evicted = [&](const std::string& path) {
    if (path != a || again) return;
    auto r = self->ensure(a);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    again = *r;
  };
  store = std::move(ModelStore::open(o, clock_)).value();
  self = store.get();
  a = add(*store, "a");
  const std::string b = add(*store, "b"), c = add(*store, "c");
  ASSERT_TRUE(store->ensure(a).is_ok());
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(store->ensure(c).is_ok());
  clock_.advance(std::chrono::seconds(1));
  // b's fetch makes room: a (least recently used) goes, and is fetched again at once.
  ASSERT_TRUE(store->ensure(b).is_ok());
  ASSERT_TRUE(again);
  EXPECT_TRUE(store->present(a));
  ASSERT_TRUE(fs::exists(a)) << "the new copy survived the old one's deletion";
  EXPECT_EQ(*cache::read_whole_file(a), bundle_);
  EXPECT_TRUE(store->present(b));
  EXPECT_FALSE(store->present(c));
  for (const auto& f : fs::directory_iterator(dir_ / "a"))
    EXPECT_FALSE(f.path().string().ends_with(".tmp")) << "no evicted file left: " << f.path();
}

TEST_F(ModelStoreTest, AFailedFetchLeavesNothingAndTheNextOneRetries) {
  auto store = open(0);
  const std::string a = add(*store, "a");
  auto r = store->ensure(a);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUpstream);
  EXPECT_FALSE(fs::exists(a));
  EXPECT_TRUE(!fs::exists(dir_ / "a") || fs::is_empty(dir_ / "a"));
  EXPECT_EQ(store->describe()["models"][0]["failures"], 1);
  registry_.put("a", "1", bundle_);
  EXPECT_TRUE(store->ensure(a).is_ok());
}

TEST_F(ModelStoreTest, CopiesFromAnEarlierRunCountAndTempFilesGo) {
  fs::create_directories(dir_ / "old");
  { std::ofstream(dir_ / "old" / "1.thaw", std::ios::binary) << bundle_; }
  { std::ofstream(dir_ / "old" / "2.thaw") << std::string(1000, 'x'); }  // not a bundle: never durable
  { std::ofstream(dir_ / "old" / "1.thaw.123-0.tmp") << "partial"; }
  auto store = open(0);
  EXPECT_EQ(store->bytes(), bundle_.size());
  EXPECT_FALSE(fs::exists(dir_ / "old" / "1.thaw.123-0.tmp"));
  EXPECT_FALSE(fs::exists(dir_ / "old" / "2.thaw")) << "failed its verify at open";
  EXPECT_TRUE(recorded_durable((dir_ / "old" / "1.thaw").string())) << "verified, synced, recorded";
}

TEST_F(ModelStoreTest, AFetchedCopyServesAtOnceAndIsRecordedDurableAfterItsSync) {
  registry_.put("a", "1", bundle_);
  auto store = open(0);
  const std::string a = add(*store, "a");
  auto lease = store->ensure(a);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_EQ(*cache::read_whole_file(a), bundle_);
  store->wait_durable();
  EXPECT_TRUE(store->durable(a));
  EXPECT_TRUE(recorded_durable(a));
  EXPECT_EQ(store->describe()["models"][0]["durable"], true);
  // A new store trusts the recorded copy as it is.
  lease->reset();
  store.reset();
  auto again = open(0);
  const std::string a2 = add(*again, "a");
  EXPECT_TRUE(again->present(a2));
  EXPECT_TRUE(again->durable(a2));
}

TEST_F(ModelStoreTest, RecoveryVerifiesACopyNotRecordedDurable) {
  const std::string a = fetched_by_an_earlier_run("a");
  // A crash between the rename and the sync's record: the bytes did reach the disk.
  forget_durable(a);
  auto store = open(0);
  add(*store, "a");
  EXPECT_TRUE(store->present(a)) << "verified in full: kept";
  EXPECT_TRUE(store->durable(a));
  EXPECT_EQ(*cache::read_whole_file(a), bundle_);
}

TEST_F(ModelStoreTest, RecoveryDeletesANonDurableCopyWithLostPagesAndItsVerifyMarker) {
  const std::string a = fetched_by_an_earlier_run("a");
  // A crash before the sync: the size is complete but some pages were never written (zeros), and
  // a worker had already marked the copy verified (from the page cache) before the crash.
  forget_durable(a);
  {
    std::fstream f(a, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(bundle_.size() / 2));
    const std::string zeros(64 << 10, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  const fs::path verified = dir_ / "verified";
  const bundle::VerifiedCache workers(verified.string());
  ASSERT_TRUE(workers.mark(*bundle::VerifiedCache::key(a)).is_ok());
  ASSERT_TRUE(workers.verified(a));
  StoreOptions o;
  o.dir = dir_.string();
  o.verify_cache_dir = verified.string();
  auto store = std::move(ModelStore::open(o, clock_)).value();
  EXPECT_FALSE(fs::exists(a)) << "failed its verify: deleted";
  EXPECT_TRUE(fs::is_empty(verified)) << "the workers' marker no longer vouches for it";
  add(*store, "a");
  EXPECT_FALSE(store->present(a)) << "back on the registry rung";
  ASSERT_TRUE(store->ensure(a).is_ok()) << "the next request fetches it again";
  EXPECT_EQ(*cache::read_whole_file(a), bundle_);
  // Every chunk of the fetched copy was checked as it arrived: the workers need not verify it again.
  EXPECT_TRUE(workers.verified(a));
}

TEST_F(ModelStoreTest, RefusesBadSources) {
  auto store = open(0);
  EXPECT_FALSE(store->add({"a", "1", "https://x/a/1", "", false}).is_ok());
  EXPECT_FALSE(store->add({"a", "1", registry_.url() + "/a/1", "not-a-hash", false}).is_ok());
}

}  // namespace
}  // namespace thaw::manager
