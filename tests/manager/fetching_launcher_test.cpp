// The registry rung's launcher on the fake launcher and a real in-process registry: a start of a
// bundle without a local copy fetches it first, the handle holds the copy against the budget, and a
// failed fetch fails the start with the fetch's error. Start while fetching: the instance starts on
// the arriving copy once what it reads is in, and is killed when the rest fails.
#include "manager/fetching_launcher.h"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../cache/test_bundle.h"
#include "../cache/test_registry.h"
#include "cache/chunk_store.h"
#include "manager/fake_launcher.h"

namespace thaw::manager {
namespace {

namespace fs = std::filesystem;
using policy::Rung;

class FetchingLauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("thaw-fetching-{}-{}", ::getpid(), counter_++);
    bundle_ = cache::testing::make_bundle("m", 2, 1 << 20, 1, 256 << 10);
    StoreOptions o;
    o.dir = dir_.string();
    o.budget_bytes = bundle_.size() * 3 / 2;  // room for one copy
    store_ = std::move(ModelStore::open(o, clock_)).value();
    auto fake = std::make_unique<FakeLauncher>(clock_, FakeCosts{});
    fake_ = fake.get();
    launcher_ = std::make_unique<FetchingLauncher>(std::move(fake), *store_, 2);
  }
  void TearDown() override {
    launcher_.reset();
    store_.reset();  // joins its background sync, which may still be writing in dir_
    fs::remove_all(dir_);
  }
  std::string add(const std::string& name) {
    return *store_->add({name, "1", registry_.url() + "/" + name + "/1.thaw", "", false});
  }
  // Starts an instance of `bundle`; runs the fake launcher's work once the fetch has handed it on.
  Result<std::shared_ptr<WorkerHandle>> start(const std::string& bundle) {
    auto promise = std::make_shared<std::promise<Result<std::shared_ptr<WorkerHandle>>>>();
    auto future = promise->get_future();
    StartSpec spec;
    spec.model = "m";
    spec.bundle = bundle;
    launcher_->start_instance(spec, nullptr, [promise](Result<std::shared_ptr<WorkerHandle>> r) {
      promise->set_value(std::move(r));
    });
    for (int i = 0; i < 2000 && future.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready; ++i) {
      if (auto due = fake_->next_due()) {
        clock_.set(std::max(clock_.now(), *due));
        fake_->run_due(clock_.now());
      }
    }
    return future.get();
  }

  static inline int counter_ = 0;
  fs::path dir_;
  std::string bundle_;
  cache::testing::TestRegistry registry_;
  ManualClock clock_;
  std::unique_ptr<ModelStore> store_;
  FakeLauncher* fake_ = nullptr;
  std::unique_ptr<FetchingLauncher> launcher_;
};

TEST_F(FetchingLauncherTest, AStartFetchesFirstAndTheHandleHoldsTheCopy) {
  registry_.put("a", "1", bundle_);
  registry_.put("b", "1", bundle_);
  const std::string a = add("a"), b = add("b");
  EXPECT_EQ(launcher_->storage_rung(a), Rung::kRegistry);
  EXPECT_GT(launcher_->fetch_cost_ms(a), 0.0);
  auto worker = start(a);
  ASSERT_TRUE(worker.is_ok()) << worker.status().to_string();
  EXPECT_TRUE(store_->present(a));
  EXPECT_NE(launcher_->storage_rung(a), Rung::kRegistry);
  EXPECT_EQ(launcher_->fetch_cost_ms(a), 0.0);
  // b does not fit beside a's copy while a's instance lives: its start fails naming the budget.
  clock_.advance(std::chrono::seconds(1));
  auto refused = start(b);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kNoSpace);
  EXPECT_NE(refused.status().message().find("budget"), std::string::npos) << refused.status().to_string();
  EXPECT_TRUE(store_->present(a));
  EXPECT_FALSE(store_->present(b));
  // Once a's instance is gone, b's start makes room by evicting a's copy.
  worker->reset();
  clock_.advance(std::chrono::seconds(1));
  auto other = start(b);
  ASSERT_TRUE(other.is_ok()) << other.status().to_string();
  EXPECT_FALSE(store_->present(a));
  EXPECT_TRUE(store_->present(b));
  EXPECT_LE(store_->bytes(), store_->options().budget_bytes);
}

TEST_F(FetchingLauncherTest, AFailedFetchFailsTheStartWithItsCause) {
  const std::string gone = add("gone");
  auto worker = start(gone);
  ASSERT_FALSE(worker.is_ok());
  EXPECT_EQ(worker.status().code(), Code::kUpstream);
  EXPECT_EQ(fake_->instance_starts(), 0);
  EXPECT_EQ(launcher_->storage_rung(gone), Rung::kRegistry);
}

// Start while fetching: the store's start ranges name the first tensor (standing for the files an
// ONNX start reads); the registry holds back every range from the second tensor on.
class StartWhileFetchingTest : public FetchingLauncherTest {
 protected:
  void SetUp() override {
    FetchingLauncherTest::SetUp();
    launcher_.reset();
    bundle_ = cache::testing::make_bundle("m", 3, 1 << 20, 1, 256 << 10);
    auto reader = bundle::Reader::from_memory(std::as_bytes(std::span(bundle_)));
    const bundle::Manifest& m = reader->manifest();
    first_ = {m.data_offset + m.tensors[0].offset, m.tensors[0].length};
    rest_ = m.data_offset + m.tensors[1].offset;
    StoreOptions o;
    o.dir = dir_.string();
    o.start_ranges = [this](const bundle::Manifest&) { return std::vector{first_}; };
    store_ = std::move(ModelStore::open(o, clock_)).value();
    auto fake = std::make_unique<FakeLauncher>(clock_, FakeCosts{});
    fake_ = fake.get();
    launcher_ = std::make_unique<FetchingLauncher>(std::move(fake), *store_, 2);
  }
  std::pair<uint64_t, uint64_t> first_;
  uint64_t rest_ = 0;
};

TEST_F(StartWhileFetchingTest, TheInstanceStartsOnTheArrivingCopyAndHoldsItOnceFetched) {
  registry_.put("a", "1", bundle_);
  const std::string a = add("a");
  registry_.hold_from(rest_);
  auto worker = start(a);  // reported while the rest is held back
  ASSERT_TRUE(worker.is_ok()) << worker.status().to_string();
  EXPECT_TRUE(registry_.wait_held(1));
  EXPECT_FALSE(store_->present(a));
  const StartSpec spec = fake_->last_instance_spec();
  EXPECT_NE(spec.bundle, a);
  EXPECT_EQ(spec.bundle.rfind(a + ".", 0), 0u) << spec.bundle << ": the copy's temp file";
  EXPECT_EQ(spec.args, (std::vector<std::string>{"--verify", "never"}));
  EXPECT_TRUE((*worker)->alive());
  EXPECT_TRUE((*worker)->killed_because().is_ok());
  registry_.release();
  for (int i = 0; i < 2000 && !store_->present(a); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(store_->present(a));
  EXPECT_EQ(*cache::read_whole_file(a), bundle_);
  EXPECT_TRUE((*worker)->alive());
  // The instance holds the copy's lease (the store's budget cannot take it while it lives).
  for (int i = 0; i < 2000 && store_->describe()["models"][0]["in_use"] != 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(store_->describe()["models"][0]["in_use"], 1);
  worker->reset();
  for (int i = 0; i < 2000 && store_->describe()["models"][0]["in_use"] != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(store_->describe()["models"][0]["in_use"], 0);
  EXPECT_EQ(fake_->instance_starts(), 1);
}

TEST_F(StartWhileFetchingTest, TheRestWaitsUntilTheEarlyStartEnds) {
  registry_.put("a", "1", bundle_);
  const std::string a = add("a");
  registry_.hold_from(rest_);  // counts (and holds) the rest's reads
  auto promise = std::make_shared<std::promise<Result<std::shared_ptr<WorkerHandle>>>>();
  auto future = promise->get_future();
  StartSpec spec;
  spec.model = "m";
  spec.bundle = a;
  launcher_->start_instance(spec, nullptr, [promise](auto r) { promise->set_value(std::move(r)); });
  for (int i = 0; i < 2000 && !fake_->next_due(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fake_->next_due()) << "the early start began";
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(registry_.held(), 0u) << "the rest was asked for while the start was still under way";
  // Once the instance is ready, the rest arrives.
  clock_.set(std::max(clock_.now(), *fake_->next_due()));
  fake_->run_due(clock_.now());
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(registry_.wait_held(1));
  registry_.release();
  for (int i = 0; i < 2000 && !store_->present(a); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(store_->present(a));
  EXPECT_TRUE(future.get().is_ok());
  // The wait is the start's (on the test's clock), and is not counted as the source's time.
  const auto fetch = store_->describe()["models"][0]["last_fetch"];
  EXPECT_GT(fetch["first_phase_wait_seconds"].get<double>(), 0.0) << fetch.dump();
  EXPECT_LE(fetch["first_phase_wait_seconds"].get<double>(), fetch["seconds"].get<double>()) << fetch.dump();
}

TEST_F(StartWhileFetchingTest, ARestThatFailsKillsTheInstanceAndLeavesNothing) {
  std::string bad = bundle_;
  bad[rest_ + 10] ^= 0x5a;  // the second tensor never verifies
  registry_.put("a", "1", bad);
  const std::string a = add("a");
  registry_.hold_from(rest_);
  auto worker = start(a);
  ASSERT_TRUE(worker.is_ok()) << worker.status().to_string();
  EXPECT_TRUE(registry_.wait_held(1));
  registry_.release();
  for (int i = 0; i < 2000 && (*worker)->alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE((*worker)->alive()) << "killed once the fetch failed";
  // The clients of its requests in flight hear why (502, as for a failed start).
  const Status why = (*worker)->killed_because();
  EXPECT_EQ(why.code(), Code::kUpstream) << why.to_string();
  EXPECT_NE(why.message().find("corrupt"), std::string::npos) << why.to_string();
  EXPECT_FALSE(store_->present(a));
  for (int i = 0; i < 2000 && !fs::is_empty(fs::path(a).parent_path()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(fs::is_empty(fs::path(a).parent_path())) << "nothing partial in the store";
  EXPECT_NE(store_->describe()["models"][0].value("last_error", "").find("corrupt"), std::string::npos)
      << store_->describe().dump();
}

TEST_F(StartWhileFetchingTest, AStartThatCannotBeginEarlyWaitsForTheWholeFetch) {
  registry_.put("a", "1", bundle_);
  const std::string a = add("a");
  auto promise = std::make_shared<std::promise<Result<std::shared_ptr<WorkerHandle>>>>();
  auto future = promise->get_future();
  StartSpec spec;
  spec.model = "m";
  spec.bundle = a;
  spec.args = {"--verify", "always"};  // the worker would read every byte
  launcher_->start_instance(spec, nullptr, [promise](auto r) { promise->set_value(std::move(r)); });
  for (int i = 0; i < 2000 && future.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready; ++i)
    if (auto due = fake_->next_due()) {
      clock_.set(std::max(clock_.now(), *due));
      fake_->run_due(clock_.now());
    }
  auto worker = future.get();
  ASSERT_TRUE(worker.is_ok()) << worker.status().to_string();
  EXPECT_EQ(fake_->instance_starts(), 1);
  EXPECT_EQ(fake_->last_instance_spec().bundle, a) << "started on the finished copy";
  EXPECT_EQ(fake_->last_instance_spec().args, spec.args);
  EXPECT_EQ(store_->describe()["models"][0]["last_fetch"]["first_phase_seconds"], 0.0);
}

TEST_F(FetchingLauncherTest, BundlesOutsideTheStorePassStraightThrough) {
  EXPECT_EQ(launcher_->storage_rung("/models/local.thaw"), Rung::kDisk);
  EXPECT_EQ(launcher_->fetch_cost_ms("/models/local.thaw"), 0.0);
  auto worker = start("/models/local.thaw");
  ASSERT_TRUE(worker.is_ok());
  launcher_->stop(*worker, std::chrono::milliseconds(0), nullptr);  // unwrapped for the inner launcher
  fake_->run_due(clock_.now());
  EXPECT_FALSE((*worker)->alive());
}

}  // namespace
}  // namespace thaw::manager
