// The manager's parts (instance pool, ladder controller) on the fake launcher and a manual clock:
// every start, stop and timeout happens on simulated time, so nothing here sleeps or starts a
// process, and every case is deterministic.
#include "manager/manager.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "manager/fake_launcher.h"
#include "policy/policy.h"

namespace thaw::manager {
namespace {

using policy::Rung;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The outcome of one acquire(): empty until its callback runs.
struct Outcome {
  std::optional<Result<Lease>> result;
  WaitTicket ticket;
  bool done() const { return result.has_value(); }
  bool ok() const { return result && result->is_ok(); }
  Code code() const { return result ? result->status().code() : Code::kOk; }
  std::string message() const { return result ? result->status().message() : "(pending)"; }
  Lease& lease() { return result->value(); }
};

class ManagerUnitTest : public ::testing::Test {
 protected:
  static ModelConfig model(std::string name) {
    ModelConfig m;
    m.name = name;
    m.bundle = "/models/" + name + ".thaw";  // never opened: the launcher is fake
    m.start_timeout = seconds(60);
    return m;
  }

  void start(std::vector<ModelConfig> models, std::string policy = "fixed:keepalive_min=1", uint64_t budget = 0,
             FakeCosts costs = {}, std::unique_ptr<policy::Policy> given = nullptr) {
    auto launcher = std::make_unique<FakeLauncher>(clock_, costs);
    fake_ = launcher.get();
    ManagerOptions o;
    o.policy = std::move(policy);
    o.tick_interval = milliseconds(0);  // the test drives time
    o.ping_interval = seconds(10);
    o.memory_budget_bytes = budget;
    o.max_waiting = max_waiting_;
    o.refused = refused_;
    o.load_info = [this](const ModelConfig& m) {
      asked_.push_back(m.bundle);
      return ModelLoadInfo{64u << 20, zygote_safe_};
    };
    auto m = Manager::create(o, std::move(models), clock_, std::move(launcher), std::move(given));
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    manager_ = std::move(m).value();
  }

  std::shared_ptr<Outcome> acquire(const std::string& model, Tier tier = Tier::kStandard,
                                   std::optional<Nanos> deadline = std::nullopt) {
    auto out = std::make_shared<Outcome>();
    out->ticket = manager_->acquire(model, tier, deadline, [out](Result<Lease> r) { out->result.emplace(std::move(r)); });
    return out;
  }

  // Moves the clock forward by `d`, running the launcher's work as it falls due and a manager tick
  // at every step, as `thaw serve`'s timer would.
  void advance(Nanos d) {
    const Nanos target = clock_.now() + d;
    fake_->run_due(clock_.now());
    manager_->tick();
    for (;;) {
      Nanos next = target;
      if (auto due = fake_->next_due(); due && *due < next) next = std::max(*due, clock_.now());
      clock_.set(next);
      fake_->run_due(next);
      manager_->tick();
      fake_->run_due(next);
      if (next >= target) return;
    }
  }
  void settle() { advance(Nanos{0}); }

  nlohmann::json describe(const std::string& name) {
    const nlohmann::json all = manager_->describe();
    for (const auto& m : all["models"])
      if (m["name"] == name) return m;
    return nullptr;
  }
  int instances(const std::string& name) { return static_cast<int>(describe(name)["instances"].size()); }
  int alive_workers() {
    int n = 0;
    for (auto& w : fake_->workers()) n += w->alive() ? 1 : 0;
    return n;
  }

  ManualClock clock_{std::chrono::hours(1)};
  FakeLauncher* fake_ = nullptr;
  size_t max_waiting_ = 10'000;
  bool zygote_safe_ = true;
  std::vector<std::string> asked_;
  std::unique_ptr<Manager> manager_;
  std::vector<RefusedModel> refused_;
};

TEST_F(ManagerUnitTest, ColdRequestWaitsForItsStartThenKeepAliveScalesToZero) {
  start({model("m")});
  auto first = acquire("m");
  EXPECT_FALSE(first->done()) << "a cold request waits as state";
  EXPECT_EQ(describe("m")["queue"]["standard"], 1);
  advance(milliseconds(399));
  EXPECT_FALSE(first->done()) << "the disk start takes 400 ms";
  advance(milliseconds(1));
  ASSERT_TRUE(first->ok()) << first->message();
  EXPECT_EQ(first->lease().cold_from(), Rung::kDisk);
  EXPECT_EQ(first->lease().queued(), milliseconds(400));
  first->result.reset();  // released
  auto warm = acquire("m");
  ASSERT_TRUE(warm->ok()) << "granted at once";
  EXPECT_FALSE(warm->lease().cold_from().has_value());
  warm->result.reset();
  EXPECT_EQ(instances("m"), 1);
  advance(seconds(59));
  EXPECT_EQ(instances("m"), 1) << "inside the 1-minute keep-alive";
  advance(seconds(2));
  EXPECT_EQ(instances("m"), 0) << describe("m").dump();
  EXPECT_EQ(alive_workers(), 0);
  EXPECT_EQ(describe("m")["cold_starts"]["disk"], 1);
}

TEST_F(ManagerUnitTest, PageCacheMakesTheNextStartCheaperAndEvictionUndoesIt) {
  start({model("m")}, "fixed:keepalive_min=1");
  auto a = acquire("m");
  advance(milliseconds(400));
  ASSERT_TRUE(a->ok());
  a->result.reset();
  advance(minutes(2));  // stopped; the bundle's pages stay cached unless evicted
  ASSERT_TRUE(manager_->describe()["models"][0]["instances"].empty());
  auto b = acquire("m");
  ASSERT_FALSE(b->done());
  // The fixed policy drops to disk after its keep-alive: the bundle was evicted.
  EXPECT_EQ(describe("m")["rung"], "disk");
  advance(milliseconds(400));
  ASSERT_TRUE(b->ok());
  EXPECT_EQ(b->lease().cold_from(), Rung::kDisk);
  b->result.reset();
  bool held = false;
  manager_->hold("m", Rung::kPageCache, [&](Status s) { held = s.is_ok(); });
  settle();
  EXPECT_TRUE(held);
  EXPECT_EQ(instances("m"), 0);
  auto c = acquire("m");
  advance(milliseconds(40));
  ASSERT_TRUE(c->ok()) << "a page-cache start takes 40 ms";
  EXPECT_EQ(c->lease().cold_from(), Rung::kPageCache);
}

TEST_F(ManagerUnitTest, HoldingTheZygoteRungMakesTheNextStartAFork) {
  start({model("m")});
  Status held = make_error(Code::kInternal, "not yet");
  manager_->hold("m", Rung::kZygote, [&](Status s) { held = s; });
  advance(milliseconds(400));
  ASSERT_TRUE(held.is_ok()) << held.to_string();
  EXPECT_FALSE(describe("m")["zygote"].is_null());
  EXPECT_EQ(describe("m")["rung"], "zygote");
  auto r = acquire("m");
  advance(milliseconds(3));
  ASSERT_TRUE(r->ok()) << r->message();
  EXPECT_EQ(r->lease().cold_from(), Rung::kZygote);
  EXPECT_TRUE(describe("m")["instances"][0]["forked"].get<bool>());
  // The template dies: its children stop taking requests and the next start is fresh.
  r->result.reset();
  fake_->zygotes()[0]->die();
  settle();
  EXPECT_TRUE(describe("m")["zygote"].is_null());
  auto s = acquire("m");
  EXPECT_FALSE(s->done()) << "the forked instance is draining";
  advance(milliseconds(40));
  ASSERT_TRUE(s->ok());
  EXPECT_EQ(s->lease().cold_from(), Rung::kPageCache);
}

TEST_F(ManagerUnitTest, AModelWhoseBackendCannotForkNeverTakesTheZygoteRung) {
  zygote_safe_ = false;
  start({model("m")});
  EXPECT_EQ(asked_, std::vector<std::string>{"/models/m.thaw"});
  Status held = make_error(Code::kInternal, "not yet");
  manager_->hold("m", Rung::kZygote, [&](Status s) { held = s; });
  settle();
  ASSERT_TRUE(held.is_ok()) << held.to_string();
  EXPECT_TRUE(describe("m")["zygote"].is_null()) << describe("m").dump();
  EXPECT_EQ(fake_->zygote_starts(), 0);
  auto r = acquire("m");
  advance(milliseconds(400));
  ASSERT_TRUE(r->ok()) << r->message();
  EXPECT_NE(r->lease().cold_from(), Rung::kZygote);
  EXPECT_FALSE(describe("m")["instances"][0]["forked"].get<bool>());
}

TEST_F(ManagerUnitTest, UnknownModelIsNotFound) {
  start({model("m")});
  auto r = acquire("nope");
  ASSERT_TRUE(r->done());
  EXPECT_EQ(r->code(), Code::kNotFound);
  Status held;
  manager_->hold("nope", Rung::kWarm, [&](Status s) { held = s; });
  EXPECT_EQ(held.code(), Code::kNotFound);
}

TEST_F(ManagerUnitTest, ARefusedModelIsUnavailableNamingItsBundleAndIsListed) {
  refused_ = {{"bad", "/models/bad.thaw", "corrupt: not a bundle"}};
  start({model("m")});
  auto r = acquire("bad");
  ASSERT_TRUE(r->done());
  EXPECT_EQ(r->code(), Code::kUnavailable);
  const std::string message = r->result->status().message();
  EXPECT_NE(message.find("/models/bad.thaw"), std::string::npos) << message;
  EXPECT_NE(message.find("not a bundle"), std::string::npos) << message;
  EXPECT_FALSE(manager_->has_model("bad"));
  const auto described = manager_->describe();
  ASSERT_EQ(described["refused"].size(), 1u);
  EXPECT_EQ(described["refused"][0]["name"], "bad");
  EXPECT_EQ(described["refused"][0]["error"], "corrupt: not a bundle");
  EXPECT_EQ(acquire("nope")->code(), Code::kNotFound);
}

TEST_F(ManagerUnitTest, FullQueueRefusesBatchIsShedFirstAndPremiumGoesFirst) {
  ModelConfig m = model("m");
  m.max_instances = 1;
  m.concurrency = 1;
  m.queue_limit = 4;
  start({m});
  auto busy = acquire("m");
  advance(milliseconds(400));
  ASSERT_TRUE(busy->ok());
  auto s1 = acquire("m", Tier::kStandard);
  auto b1 = acquire("m", Tier::kBatch);
  EXPECT_FALSE(s1->done());
  EXPECT_FALSE(b1->done());
  // Two of four waiting is half the queue: batch is shed, the others may still wait.
  auto b2 = acquire("m", Tier::kBatch);
  ASSERT_TRUE(b2->done());
  EXPECT_EQ(b2->code(), Code::kResourceExhausted);
  EXPECT_NE(b2->message().find("shed"), std::string::npos);
  auto s2 = acquire("m", Tier::kStandard);
  auto p1 = acquire("m", Tier::kPremium);
  auto over = acquire("m", Tier::kPremium);
  ASSERT_TRUE(over->done()) << "the queue holds four";
  EXPECT_EQ(over->code(), Code::kResourceExhausted);
  EXPECT_EQ(describe("m")["rejected"], 2);
  // Each release hands the slot on: premium first, batch last.
  busy->result.reset();
  EXPECT_TRUE(p1->ok());
  EXPECT_FALSE(s1->done());
  p1->result.reset();
  EXPECT_TRUE(s1->ok());
  s1->result.reset();
  EXPECT_TRUE(s2->ok());
  EXPECT_FALSE(b1->done());
  s2->result.reset();
  EXPECT_TRUE(b1->ok());
}

TEST_F(ManagerUnitTest, TheServerWideWaitingLimitRefuses) {
  max_waiting_ = 2;
  start({model("a"), model("b")});
  auto a1 = acquire("a"), a2 = acquire("a");
  auto b1 = acquire("b");
  ASSERT_TRUE(b1->done());
  EXPECT_EQ(b1->code(), Code::kResourceExhausted);
  EXPECT_NE(b1->message().find("the server has 2 requests waiting"), std::string::npos) << b1->message();
  advance(milliseconds(400));
  EXPECT_TRUE(a1->ok());
  EXPECT_TRUE(a2->ok());
}

TEST_F(ManagerUnitTest, QueueDeadlinesRunOnTheInjectedClock) {
  ModelConfig m = model("m");
  m.max_instances = 1;
  m.concurrency = 1;
  m.queue_timeout = seconds(30);
  start({m});
  auto busy = acquire("m");
  advance(milliseconds(400));
  ASSERT_TRUE(busy->ok());
  auto early = acquire("m", Tier::kStandard, clock_.now() + milliseconds(200));
  auto late = acquire("m");
  advance(milliseconds(199));
  EXPECT_FALSE(early->done());
  advance(milliseconds(1));
  ASSERT_TRUE(early->done());
  EXPECT_EQ(early->code(), Code::kDeadlineExceeded);
  EXPECT_EQ(describe("m")["queue"]["standard"], 1) << "a timed-out waiter leaves the queue";
  advance(seconds(29));
  EXPECT_FALSE(late->done());
  advance(seconds(1));
  EXPECT_EQ(late->code(), Code::kDeadlineExceeded);
  EXPECT_NE(late->message().find("1 running"), std::string::npos) << late->message();
  EXPECT_EQ(describe("m")["timeouts"], 2);
}

TEST_F(ManagerUnitTest, ACancelledWaiterLeavesTheQueueAndTheModelGoesIdle) {
  start({model("m")});
  auto r = acquire("m");
  ASSERT_TRUE(r->ticket.queued());
  manager_->cancel(r->ticket);
  ASSERT_TRUE(r->done());
  EXPECT_EQ(r->code(), Code::kCancelled);
  EXPECT_EQ(describe("m")["queue"]["standard"], 0);
  EXPECT_EQ(describe("m")["cancelled"], 1);
  EXPECT_EQ(manager_->describe()["waiting"], 0);
  manager_->cancel(r->ticket);  // twice is harmless
  advance(milliseconds(400));   // the start it asked for still comes up, idle
  EXPECT_EQ(instances("m"), 1);
}

TEST_F(ManagerUnitTest, AFailedStartRefusesItsWaitersAndBacksOff) {
  start({model("m")});
  fake_->fail_next_starts(1, make_error(Code::kCorrupt, "bad bundle"));
  auto r = acquire("m");
  advance(milliseconds(400));
  ASSERT_TRUE(r->done());
  EXPECT_EQ(r->code(), Code::kUnavailable);
  EXPECT_NE(r->message().find("bad bundle"), std::string::npos) << r->message();
  auto soon = acquire("m");
  ASSERT_TRUE(soon->done()) << "inside the back-off: refused at once";
  EXPECT_EQ(soon->code(), Code::kUnavailable);
  EXPECT_NE(soon->message().find("next attempt"), std::string::npos) << soon->message();
  advance(seconds(2));
  auto later = acquire("m");
  advance(milliseconds(400));
  EXPECT_TRUE(later->ok()) << later->message();
  EXPECT_EQ(describe("m")["start_failures"], 1);
}

TEST_F(ManagerUnitTest, StartTimeoutsRunOnTheInjectedClock) {
  FakeCosts slow;
  slow.start[policy::index(Rung::kDisk)] = minutes(5);
  ModelConfig m = model("m");
  m.start_timeout = seconds(60);
  m.queue_timeout = minutes(10);
  start({m}, "fixed:keepalive_min=1", 0, slow);
  auto r = acquire("m");
  advance(seconds(59));
  EXPECT_FALSE(r->done());
  advance(seconds(1));
  ASSERT_TRUE(r->done());
  EXPECT_EQ(r->code(), Code::kUnavailable);
  EXPECT_NE(r->message().find("start_timeout_ms=60000"), std::string::npos) << r->message();
  advance(minutes(5));  // the abandoned start comes up late and is stopped
  EXPECT_EQ(instances("m"), 0);
  EXPECT_EQ(alive_workers(), 0);
}

TEST_F(ManagerUnitTest, ManyWaitersScaleOutUpToTheLimit) {
  ModelConfig m = model("m");
  m.max_instances = 3;
  m.concurrency = 2;
  start({m});
  std::vector<std::shared_ptr<Outcome>> rs;
  for (int i = 0; i < 10; ++i) rs.push_back(acquire("m"));
  EXPECT_EQ(describe("m")["starting"], 3);
  advance(milliseconds(400));
  int granted = 0;
  for (auto& r : rs) granted += r->ok() ? 1 : 0;
  EXPECT_EQ(granted, 6) << "three instances of two slots";
  EXPECT_EQ(fake_->instance_starts(), 3);
  std::vector<std::shared_ptr<Outcome>> first, rest;
  for (auto& r : rs) (r->ok() ? first : rest).push_back(r);
  for (auto& r : first) r->result.reset();
  for (auto& r : rest) EXPECT_TRUE(r->ok()) << "granted as the first six were released";
}

TEST_F(ManagerUnitTest, PremiumUsesTheReservedPoolAndStandardNeverDoes) {
  ModelConfig m = model("m");
  m.reserved_instances = 1;
  start({m});
  advance(milliseconds(400));  // the reserved floor
  ASSERT_EQ(instances("m"), 1);
  EXPECT_EQ(describe("m")["instances"][0]["pool"], "reserved");
  auto premium = acquire("m", Tier::kPremium);
  ASSERT_TRUE(premium->ok());
  EXPECT_FALSE(premium->lease().cold_from().has_value());
  premium->result.reset();
  auto standard = acquire("m");
  EXPECT_FALSE(standard->done()) << "standard starts its own instance";
  advance(milliseconds(40));
  ASSERT_TRUE(standard->ok());
  EXPECT_EQ(standard->lease().cold_from(), Rung::kPageCache);
}

TEST_F(ManagerUnitTest, AFloorInstanceThatDiesOrHangsIsReplaced) {
  ModelConfig m = model("m");
  m.min_instances = 1;
  start({m});
  advance(milliseconds(400));
  ASSERT_EQ(instances("m"), 1);
  fake_->workers()[0]->die();
  advance(milliseconds(100));
  EXPECT_EQ(describe("m")["instance_deaths"], 1);
  advance(milliseconds(40));
  ASSERT_EQ(instances("m"), 1);
  EXPECT_EQ(fake_->instance_starts(), 2);
  // A hung one fails its keep-warm ping, is killed and replaced.
  fake_->workers()[1]->set_hung(true);
  advance(seconds(10));
  advance(milliseconds(100));
  EXPECT_FALSE(fake_->workers()[1]->alive());
  advance(milliseconds(100));
  EXPECT_EQ(fake_->instance_starts(), 3);
  EXPECT_EQ(instances("m"), 1);
}

TEST_F(ManagerUnitTest, AnInstanceThatBreaksUnderARequestIsNotPickedAgain) {
  ModelConfig m = model("m");
  m.max_instances = 2;
  m.concurrency = 1;
  start({m});
  auto a = acquire("m"), b = acquire("m");
  advance(milliseconds(400));
  ASSERT_TRUE(a->ok());
  ASSERT_TRUE(b->ok());
  const uint64_t broken = a->lease().instance_id();
  fake_->workers()[0]->die();
  a->lease().mark_failed();
  a->result.reset();
  EXPECT_EQ(describe("m")["instance_deaths"], 1);
  b->result.reset();
  auto retry = acquire("m");
  ASSERT_TRUE(retry->ok());
  EXPECT_NE(retry->lease().instance_id(), broken);
}

TEST_F(ManagerUnitTest, TheMemoryBudgetDemotesTheLeastRecentlyUsedIdleModel) {
  // 64 MiB per instance; a budget of 100 MiB holds one.
  start({model("a"), model("b")}, "fixed:keepalive_min=10", 100u << 20);
  auto a = acquire("a");
  advance(milliseconds(400));
  ASSERT_TRUE(a->ok());
  a->result.reset();
  advance(seconds(1));  // measured
  EXPECT_EQ(manager_->memory_bytes(), 64u << 20);
  auto b = acquire("b");
  advance(milliseconds(400));
  ASSERT_TRUE(b->ok()) << b->message();
  EXPECT_EQ(instances("a"), 0) << "a was idle and least recently used";
  EXPECT_EQ(instances("b"), 1);
}

TEST_F(ManagerUnitTest, AStudentStartInTheBackgroundCountsOnce) {
  start({model("m")});
  manager_->start_in_background("m");
  manager_->start_in_background("m");
  EXPECT_EQ(describe("m")["starting"], 1);
  advance(milliseconds(400));
  EXPECT_TRUE(manager_->has_instance("m", Tier::kStandard));
  EXPECT_FALSE(manager_->has_instance("nope", Tier::kStandard));
}

TEST_F(ManagerUnitTest, NextWakeupIsWhenThePlanChangesNext) {
  start({model("m")});
  auto r = acquire("m");
  advance(milliseconds(400));
  r->result.reset();
  ModelState* m = manager_->model_state("m");
  auto at = manager_->controller().next_wakeup(*m, clock_.now());
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(*at - clock_.now(), minutes(1)) << "the keep-alive ends";
}

TEST_F(ManagerUnitTest, ACachePolicysEvictionStopsTheIdleModelAtOnce) {
  // Two 64 MiB models; the cache holds one.
  start({model("a"), model("b")}, "faascache:capacity_gb=0.1");
  auto a = acquire("a");
  advance(milliseconds(400));
  ASSERT_TRUE(a->ok()) << a->message();
  a->result.reset();
  advance(minutes(30));
  EXPECT_EQ(instances("a"), 1) << "kept without a timeout while it fits";
  auto b = acquire("b");
  settle();
  EXPECT_EQ(instances("a"), 0) << "evicted for b";
  EXPECT_EQ(describe("a")["idle_plan"]["rung_now"], "disk");
  advance(milliseconds(400));
  EXPECT_TRUE(b->ok()) << b->message();
}

// Keeps a model warm a minute and remembers what it was told of each model.
class RecordingPolicy final : public policy::Policy {
 public:
  std::string spec() const override { return "fixed:keepalive_min=1"; }
  void add_app(policy::AppId, const policy::AppInfo& info) override { infos.push_back(info); }
  void on_invocation(policy::AppId, Nanos) override {}
  const policy::IdlePlan& on_idle(policy::AppId, Nanos) override { return plan_; }
  std::vector<policy::AppInfo> infos;

 private:
  policy::IdlePlan plan_ = policy::IdlePlan(Rung::kWarm).then(minutes(1), Rung::kDisk);
};

TEST_F(ManagerUnitTest, ThePolicyPlansWithTheCostsMeasuredAndTheProfileExportsThem) {
  FakeCosts costs;
  costs.start[policy::index(Rung::kDisk)] = milliseconds(250);
  costs.instance_bytes = 100u << 20;
  costs.zygote_bytes = 60u << 20;
  auto recorder = std::make_unique<RecordingPolicy>();
  RecordingPolicy* seen = recorder.get();
  start({model("m")}, "", 0, costs, std::move(recorder));
  ASSERT_EQ(seen->infos.size(), 1u);
  EXPECT_FALSE(seen->infos[0].profile) << "declared with the estimate only";
  auto r = acquire("m");
  advance(milliseconds(250));
  ASSERT_TRUE(r->ok()) << r->message();
  r->result.reset();
  advance(seconds(2));  // the fresh instance's PSS is measured while it runs
  manager_->hold("m", Rung::kZygote, nullptr);
  advance(seconds(11));  // the zygote is up, memory measured, costs refreshed
  ASSERT_TRUE(seen->infos.back().profile);
  const policy::RungProfile& p = *seen->infos.back().profile;
  EXPECT_DOUBLE_EQ(seen->infos.back().memory_mb, 100.0);
  EXPECT_NEAR(p.latency_ms[policy::index(Rung::kDisk)], 250.0, 1e-6);
  EXPECT_NEAR(p.memory_fraction[policy::index(Rung::kZygote)], 0.6, 1e-9);
  // Unmeasured rungs keep the configured profile's values.
  EXPECT_DOUBLE_EQ(p.latency_ms[policy::index(Rung::kPageCache)], policy::RungProfile{}.latency_ms[2]);
  const size_t told = seen->infos.size();
  advance(seconds(30));
  EXPECT_EQ(seen->infos.size(), told) << "nothing new measured: nothing re-sent";

  const std::string yaml = manager_->profile_yaml();
  auto exported = policy::parse_rung_profile(yaml);
  ASSERT_TRUE(exported.is_ok()) << exported.status().to_string() << "\n" << yaml;
  EXPECT_NEAR(exported->latency_ms[policy::index(Rung::kDisk)], 250.0, 1e-3);
  EXPECT_NEAR(exported->memory_fraction[policy::index(Rung::kZygote)], 0.6, 1e-6);
  EXPECT_NE(yaml.find("\"m\":"), std::string::npos) << yaml;
}

TEST_F(ManagerUnitTest, ShutdownRefusesWaitersAndStopsEverything) {
  start({model("m"), model("n")});
  auto warm = acquire("n");
  advance(milliseconds(400));
  ASSERT_TRUE(warm->ok());
  warm->result.reset();
  auto waiting = acquire("m");
  manager_->shutdown(milliseconds(0));
  ASSERT_TRUE(waiting->done());
  EXPECT_EQ(waiting->code(), Code::kUnavailable);
  EXPECT_EQ(alive_workers(), 0);
  auto after = acquire("m");
  EXPECT_EQ(after->code(), Code::kUnavailable);
}

TEST_F(ManagerUnitTest, ConcurrentRequestsFromManyThreadsAllGetAnAnswer) {
  ModelConfig m = model("m");
  m.max_instances = 2;
  m.concurrency = 2;
  m.queue_limit = 1000;
  FakeCosts instant;
  instant.start = {Nanos{0}, Nanos{0}, Nanos{0}, Nanos{0}};
  start({m}, "fixed:keepalive_min=1", 0, instant);
  std::atomic<int> ok{0}, done{0};
  std::atomic<bool> stop{false};
  std::thread driver([&] {  // the timer's part: starts complete, ticks run
    while (!stop) {
      fake_->run_due(clock_.now());
      manager_->tick();
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        std::atomic<bool> answered{false};
        manager_->acquire("m", Tier::kStandard, std::nullopt, [&](Result<Lease> r) {
          if (r.is_ok()) ok++;
          done++;
          answered = true;  // the lease is released here, on whichever thread granted it
        });
        while (!answered) std::this_thread::yield();
      }
    });
  }
  for (auto& c : clients) c.join();
  stop = true;
  driver.join();
  EXPECT_EQ(done, 800);
  EXPECT_EQ(ok, 800);
  EXPECT_EQ(manager_->describe()["waiting"], 0);
}

}  // namespace
}  // namespace thaw::manager

namespace thaw::manager {
namespace {

class VersionSwitchTest : public ManagerUnitTest {
 protected:
  Status switch_to(const std::string& bundle, const std::string& version) {
    std::optional<Status> got;
    manager_->controller().switch_bundle(*manager_->model_state("m"), bundle, version, "http://r/m/" + version,
                                         [&](Status s) { got = s; });
    advance(seconds(1));
    EXPECT_TRUE(got.has_value());
    return got.value_or(make_error(Code::kInternal, "no answer"));
  }
};

TEST_F(VersionSwitchTest, TheNewVersionStartsBesideTheOldThenTakesTheTrafficAtOnce) {
  start({model("m")});
  auto first = acquire("m");
  advance(seconds(1));
  ASSERT_TRUE(first->ok()) << first->message();
  const std::string old_endpoint = first->lease().endpoint().to_string();
  // Version 2 starts while a request is in flight on version 1; then the switch.
  ASSERT_TRUE(switch_to("/models/m-2.thaw", "2").is_ok());
  EXPECT_EQ(manager_->model_version("m"), "2");
  EXPECT_EQ(describe("m")["bundle"], "/models/m-2.thaw");
  // New requests go to version 2 at once; the one in flight on version 1 finishes there.
  auto next = acquire("m");
  advance(seconds(1));
  ASSERT_TRUE(next->ok());
  EXPECT_NE(next->lease().endpoint().to_string(), old_endpoint);
  EXPECT_EQ(alive_workers(), 2);
  first.reset();  // the request on version 1 ends
  advance(seconds(1));
  EXPECT_EQ(alive_workers(), 1) << "the drained version-1 instance stops once idle";
  EXPECT_EQ(instances("m"), 1);
}

TEST_F(VersionSwitchTest, AFailedStartLeavesTheOldVersionServing) {
  start({model("m")});
  auto first = acquire("m");
  advance(seconds(1));
  ASSERT_TRUE(first->ok());
  fake_->fail_next_starts(1, make_error(Code::kUnavailable, "version 2 crashed at load"));
  Status s = switch_to("/models/m-2.thaw", "2");
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("version 1 keeps serving"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("crashed at load"), std::string::npos);
  EXPECT_EQ(manager_->model_version("m"), "1");
  first.reset();
  auto again = acquire("m");
  advance(seconds(1));
  EXPECT_TRUE(again->ok());
  EXPECT_EQ(instances("m"), 1);
  // Rolling back is the same operation.
  ASSERT_TRUE(switch_to("/models/m-2.thaw", "2").is_ok());
  again.reset();
  ASSERT_TRUE(switch_to("/models/m.thaw", "1").is_ok());
  EXPECT_EQ(manager_->model_version("m"), "1");
}

}  // namespace
}  // namespace thaw::manager

namespace thaw::manager {
namespace {

TEST_F(VersionSwitchTest, ACanaryTakesItsShareUntilPromotedOrCancelled) {
  start({model("m")});
  {
    auto warm = acquire("m");
    advance(seconds(1));
    ASSERT_TRUE(warm->ok());
  }
  std::optional<Status> got;
  manager_->controller().switch_bundle(*manager_->model_state("m"), "/models/m-2.thaw", "2", "http://r/m/2",
                                       [&](Status s) { got = s; }, 25);
  advance(seconds(1));
  ASSERT_TRUE(got && got->is_ok());
  EXPECT_EQ(manager_->model_version("m"), "1") << "a canary does not change the served version";
  EXPECT_EQ(describe("m")["canary"]["percent"], 25);
  // 100 requests, one at a time: a quarter reach the canary's instance.
  std::map<std::string, int> by_endpoint;
  for (int i = 0; i < 100; ++i) {
    auto r = acquire("m");
    settle();
    ASSERT_TRUE(r->ok());
    ++by_endpoint[r->lease().endpoint().to_string()];
  }
  ASSERT_EQ(by_endpoint.size(), 2u);
  std::vector<int> counts;
  for (auto& [e, n] : by_endpoint) counts.push_back(n);
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<int>{25, 75}));
  // Promotion: the canary serves everything, the old instance drains.
  manager_->controller().promote_canary(*manager_->model_state("m"));
  EXPECT_EQ(manager_->model_version("m"), "2");
  EXPECT_TRUE(describe("m")["canary"].is_null());
  advance(seconds(1));
  EXPECT_EQ(instances("m"), 1);
  // A second canary, cancelled: its instance drains, version 2 stays.
  got.reset();
  manager_->controller().switch_bundle(*manager_->model_state("m"), "/models/m-3.thaw", "3", "http://r/m/3",
                                       [&](Status s) { got = s; }, 10);
  advance(seconds(1));
  ASSERT_TRUE(got && got->is_ok());
  EXPECT_EQ(instances("m"), 2);
  manager_->controller().cancel_canary(*manager_->model_state("m"));
  advance(seconds(1));
  EXPECT_EQ(instances("m"), 1);
  EXPECT_EQ(manager_->model_version("m"), "2");
}

}  // namespace
}  // namespace thaw::manager
