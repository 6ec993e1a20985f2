// The manager's demand interface (manager/demand.h) on the fake launcher and a manual clock: the
// snapshot follows the queue, and events come at the zero rung, at a planned pre-warm and when
// the model falls back to zero.
#include "manager/demand.h"

#include <gtest/gtest.h>

#include "manager/fake_launcher.h"
#include "manager/manager.h"
#include "policy/policy.h"

namespace thaw::manager {
namespace {

using policy::Rung;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// Drops to disk at once, pre-warms 30 s into the idle period, back to disk at 2 min.
class PrewarmPolicy final : public policy::Policy {
 public:
  std::string spec() const override { return "prewarm-test"; }
  void add_app(policy::AppId, const policy::AppInfo&) override {}
  void on_invocation(policy::AppId, Nanos) override {}
  const policy::IdlePlan& on_idle(policy::AppId, Nanos) override { return plan_; }

 private:
  policy::IdlePlan plan_ = policy::IdlePlan(Rung::kDisk).then(seconds(30), Rung::kWarm).then(minutes(2), Rung::kDisk);
};

class DemandTest : public ::testing::Test {
 protected:
  void start(std::unique_ptr<policy::Policy> given = nullptr, int concurrency = 1) {
    ModelConfig m;
    m.name = "m";
    m.bundle = "/models/m.thaw";  // never opened: the launcher is fake
    m.start_timeout = seconds(60);
    m.concurrency = concurrency;
    auto launcher = std::make_unique<FakeLauncher>(clock_, FakeCosts{});
    fake_ = launcher.get();
    ManagerOptions o;
    o.policy = "fixed:keepalive_min=1";
    o.tick_interval = milliseconds(0);
    o.load_info = [](const ModelConfig&) { return ModelLoadInfo{64u << 20, true}; };
    auto made = Manager::create(o, {m}, clock_, std::move(launcher), std::move(given));
    ASSERT_TRUE(made.is_ok()) << made.status().to_string();
    manager_ = std::move(made).value();
    subscription_ = manager_->demand_hub().subscribe(
        [this](const std::string& model, DemandEvent e) { events_.push_back(model + ":" + demand_event_name(e)); });
  }

  void advance(Nanos d) {  // as in manager_test: starts complete as they fall due, a tick each step
    const Nanos target = clock_.now() + d;
    for (;;) {
      Nanos next = target;
      if (auto due = fake_->next_due(); due && *due < next) next = std::max(*due, clock_.now());
      clock_.set(next);
      fake_->run_due(next);
      manager_->tick();
      if (next >= target) return;
    }
  }

  ModelDemand demand() {
    auto d = manager_->demand("m");
    EXPECT_TRUE(d.is_ok()) << d.status().to_string();
    return d.is_ok() ? *d : ModelDemand{};
  }

  ManualClock clock_{std::chrono::hours(1)};
  FakeLauncher* fake_ = nullptr;
  std::unique_ptr<Manager> manager_;
  uint64_t subscription_ = 0;
  std::vector<std::string> events_;
};

TEST_F(DemandTest, AColdRequestIsAnnouncedAtOnceAndTheSnapshotFollowsTheQueue) {
  start(nullptr, /*concurrency=*/2);
  EXPECT_FALSE(demand().active());
  std::vector<std::optional<Result<Lease>>> leases(3);
  for (auto& l : leases)
    manager_->acquire("m", Tier::kStandard, std::nullopt, [&l](Result<Lease> r) { l.emplace(std::move(r)); });
  // Announced before acquire() returned, with no tick in between.
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.front(), "m:waiting_at_zero");
  ModelDemand d = demand();
  EXPECT_EQ(d.waiting, 3u);
  EXPECT_EQ(d.in_flight, 0u);
  EXPECT_EQ(d.starting, 2) << "two instances of concurrency 2 for three requests";
  EXPECT_EQ(d.concurrency, 2);
  EXPECT_TRUE(d.active());
  advance(milliseconds(400));
  d = demand();
  EXPECT_EQ(d.waiting, 0u);
  EXPECT_EQ(d.in_flight, 3u);
  EXPECT_EQ(d.instances, 2);
  for (auto& l : leases) {
    ASSERT_TRUE(l && l->is_ok());
    l.reset();  // released
  }
  EXPECT_EQ(demand().in_flight, 0u);
  EXPECT_TRUE(demand().active()) << "kept warm for the keep-alive";
  events_.clear();
  advance(seconds(61));
  EXPECT_FALSE(demand().active());
  EXPECT_EQ(events_, std::vector<std::string>{"m:fell_to_zero"});
}

TEST_F(DemandTest, APlannedPrewarmIsAnnouncedAndTheFallBackToZeroToo) {
  start(std::make_unique<PrewarmPolicy>());
  std::optional<Result<Lease>> lease;
  manager_->acquire("m", Tier::kStandard, std::nullopt, [&](Result<Lease> r) { lease.emplace(std::move(r)); });
  advance(milliseconds(400));
  ASSERT_TRUE(lease && lease->is_ok());
  lease.reset();
  advance(milliseconds(100));  // the plan drops it to disk at once
  EXPECT_EQ(events_, (std::vector<std::string>{"m:waiting_at_zero", "m:fell_to_zero"}));
  events_.clear();
  advance(seconds(30));
  EXPECT_EQ(events_, std::vector<std::string>{"m:prewarm_planned"});
  EXPECT_EQ(demand().starting + demand().instances, 1);
  EXPECT_EQ(demand().waiting + demand().in_flight, 0u) << "a pre-warm is no demand";
  events_.clear();
  advance(minutes(2));
  EXPECT_EQ(events_, std::vector<std::string>{"m:fell_to_zero"});
}

TEST_F(DemandTest, AnUnknownModelIsNotFoundAndAnUnsubscribedListenerHearsNothing) {
  start();
  auto d = manager_->demand("nope");
  ASSERT_FALSE(d.is_ok());
  EXPECT_EQ(d.status().code(), Code::kNotFound);
  manager_->demand_hub().unsubscribe(subscription_);
  std::optional<Result<Lease>> lease;
  manager_->acquire("m", Tier::kStandard, std::nullopt, [&](Result<Lease> r) { lease.emplace(std::move(r)); });
  EXPECT_TRUE(events_.empty());
  advance(milliseconds(400));
  EXPECT_TRUE(lease && lease->is_ok());
}

}  // namespace
}  // namespace thaw::manager
