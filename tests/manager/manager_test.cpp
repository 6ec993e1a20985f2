// The manager on real `thaw run` workers and zygotes, with time injected: keep-alive expiry,
// the zygote rung, queues and their limits, tiers and the reserved pool.
#include "manager/manager.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "policy/rung.h"

namespace thaw::manager {
namespace {

namespace fs = std::filesystem;
using policy::Rung;
using std::chrono::milliseconds;

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "thaw_mgr_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    manager_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ModelConfig model(std::string name) {
    ModelConfig m;
    m.name = std::move(name);
    m.bundle = MANAGER_BUNDLE;
    m.worker_args = {"--max-tokens", "32"};
    m.start_timeout = milliseconds(60'000);
    return m;
  }

  void start(std::vector<ModelConfig> models, std::string policy = "fixed:keepalive_min=1") {
    ManagerOptions o;
    o.thaw_exe = THAW_BIN;
    o.runtime_dir = dir_;
    o.policy = std::move(policy);
    o.tick_interval = milliseconds(0);  // the test drives time
    o.ping_interval = milliseconds(0);
    o.load_info = load_info_;
    auto m = Manager::create(o, std::move(models), clock_);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    manager_ = std::move(m).value();
  }

  // A real inference through the lease: proves the instance serves the model by that name.
  static void expect_serves(Lease& lease, const std::string& name) {
    auto r = lease.client().post("/v2/models/" + name + "/infer",
                                 R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["hi"]}]})");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_NE(r->body.find("sentence_embedding"), std::string::npos);
  }

  nlohmann::json describe(const std::string& name) {
    const nlohmann::json all = manager_->describe();
    for (const auto& m : all["models"])
      if (m["name"] == name) return m;
    return nullptr;
  }

  std::string dir_;
  ManualClock clock_{std::chrono::hours(1)};
  std::unique_ptr<Manager> manager_;
  std::function<ModelLoadInfo(const std::string&)> load_info_;  // unset: the manager's default
};

TEST_F(ManagerTest, ColdRequestStartsAnInstanceAndKeepAliveScalesItToZero) {
  start({model("m")});
  {
    auto lease = manager_->acquire("m", Tier::kStandard);
    ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
    ASSERT_TRUE(lease->cold_from().has_value());
    EXPECT_NE(*lease->cold_from(), Rung::kWarm);
    expect_serves(*lease, "m");
  }
  {
    auto warm = manager_->acquire("m", Tier::kStandard);
    ASSERT_TRUE(warm.is_ok());
    EXPECT_FALSE(warm->cold_from().has_value());
  }
  EXPECT_EQ(describe("m")["instances"].size(), 1u);
  clock_.advance(std::chrono::seconds(30));
  manager_->tick();
  EXPECT_EQ(describe("m")["instances"].size(), 1u) << "still inside the 1-minute keep-alive";
  clock_.advance(std::chrono::seconds(31));
  manager_->tick();
  EXPECT_EQ(describe("m")["instances"].size(), 0u) << describe("m").dump();
  auto again = manager_->acquire("m", Tier::kStandard);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->cold_from().has_value());
}

TEST_F(ManagerTest, HoldingTheZygoteRungMakesTheNextStartAFork) {
  start({model("m")});
  ASSERT_TRUE(manager_->hold("m", Rung::kZygote).is_ok());
  EXPECT_FALSE(describe("m")["zygote"].is_null());
  auto lease = manager_->acquire("m", Tier::kStandard);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_EQ(lease->cold_from(), Rung::kZygote);
  expect_serves(*lease, "m");
  EXPECT_TRUE(describe("m")["instances"][0]["forked"].get<bool>());
}

TEST_F(ManagerTest, AModelWhoseBackendCannotForkNeverTakesTheZygoteRung) {
  std::vector<std::string> asked;
  load_info_ = [&asked](const std::string& bundle) {
    asked.push_back(bundle);
    return ModelLoadInfo{64u << 20, false};
  };
  start({model("m")});
  EXPECT_EQ(asked, std::vector<std::string>{MANAGER_BUNDLE});
  ASSERT_TRUE(manager_->hold("m", Rung::kZygote).is_ok());
  EXPECT_TRUE(describe("m")["zygote"].is_null()) << describe("m").dump();
  auto lease = manager_->acquire("m", Tier::kStandard);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_NE(lease->cold_from(), Rung::kZygote);
  EXPECT_FALSE(describe("m")["instances"][0]["forked"].get<bool>());
}

TEST_F(ManagerTest, UnknownModelIsNotFound) {
  start({model("m")});
  auto r = manager_->acquire("nope", Tier::kStandard);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(manager_->hold("nope", Rung::kWarm).code(), Code::kNotFound);
}

TEST_F(ManagerTest, FullQueueRefusesAndBatchIsShedFirst) {
  ModelConfig m = model("m");
  m.max_instances = 1;
  m.concurrency = 1;
  m.queue_limit = 2;
  m.queue_timeout = milliseconds(20'000);
  start({m});
  auto busy = manager_->acquire("m", Tier::kStandard);  // the only slot
  ASSERT_TRUE(busy.is_ok());
  std::promise<void> queued;
  auto waiter = std::async(std::launch::async, [&] {
    queued.set_value();
    return manager_->acquire("m", Tier::kStandard).is_ok();
  });
  queued.get_future().wait();
  for (int i = 0; i < 200 && describe("m")["queue"]["standard"] != 1; ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(describe("m")["queue"]["standard"], 1);
  // One waiting is half the queue: batch is shed, standard may still wait.
  auto batch = manager_->acquire("m", Tier::kBatch);
  ASSERT_FALSE(batch.is_ok());
  EXPECT_EQ(batch.status().code(), Code::kResourceExhausted);
  EXPECT_NE(batch.status().message().find("shed"), std::string::npos);
  auto second = std::async(std::launch::async, [&] { return manager_->acquire("m", Tier::kStandard).is_ok(); });
  for (int i = 0; i < 200 && describe("m")["queue"]["standard"] != 2; ++i) std::this_thread::sleep_for(milliseconds(10));
  auto third = manager_->acquire("m", Tier::kPremium);
  ASSERT_FALSE(third.is_ok());
  EXPECT_EQ(third.status().code(), Code::kResourceExhausted);
  { auto release = std::move(busy).value(); }
  EXPECT_TRUE(waiter.get());
  EXPECT_TRUE(second.get());
}

TEST_F(ManagerTest, WaitingPastTheDeadlineIsDeadlineExceeded) {
  ModelConfig m = model("m");
  m.max_instances = 1;
  m.concurrency = 1;
  start({m});
  auto busy = manager_->acquire("m", Tier::kStandard);
  ASSERT_TRUE(busy.is_ok());
  auto late = manager_->acquire("m", Tier::kStandard, clock_.now() + milliseconds(200));
  ASSERT_FALSE(late.is_ok());
  EXPECT_EQ(late.status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(describe("m")["queue"]["standard"], 0) << "a timed-out waiter leaves the queue";
}

TEST_F(ManagerTest, PremiumUsesTheReservedPoolAndStandardNeverDoes) {
  ModelConfig m = model("m");
  m.reserved_instances = 1;
  start({m});
  manager_->tick();  // starts the reserved floor
  for (int i = 0; i < 600 && describe("m")["instances"].size() < 1; ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_EQ(describe("m")["instances"].size(), 1u);
  EXPECT_EQ(describe("m")["instances"][0]["pool"], "reserved");
  {
    auto premium = manager_->acquire("m", Tier::kPremium);
    ASSERT_TRUE(premium.is_ok());
    EXPECT_FALSE(premium->cold_from().has_value());
  }
  auto standard = manager_->acquire("m", Tier::kStandard);
  ASSERT_TRUE(standard.is_ok());
  EXPECT_TRUE(standard->cold_from().has_value()) << "standard started its own instance";
  expect_serves(*standard, "m");
}

TEST_F(ManagerTest, AKilledInstanceIsNoticedAndTheFloorRestored) {
  ModelConfig m = model("m");
  m.min_instances = 1;
  start({m});
  manager_->tick();
  for (int i = 0; i < 600 && describe("m")["instances"].size() < 1; ++i) std::this_thread::sleep_for(milliseconds(50));
  ASSERT_EQ(describe("m")["instances"].size(), 1u);
  const int pid = describe("m")["instances"][0]["pid"];
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 100 && describe("m")["instance_deaths"] == 0; ++i) {
    manager_->tick();
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(describe("m")["instance_deaths"], 1);
  for (int i = 0; i < 600; ++i) {
    auto inst = describe("m")["instances"];
    if (inst.size() == 1 && inst[0]["pid"] != pid) break;
    manager_->tick();
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto inst = describe("m")["instances"];
  ASSERT_EQ(inst.size(), 1u);
  EXPECT_NE(inst[0]["pid"], pid);
  auto lease = manager_->acquire("m", Tier::kStandard);
  ASSERT_TRUE(lease.is_ok());
  expect_serves(*lease, "m");
}

}  // namespace
}  // namespace thaw::manager
