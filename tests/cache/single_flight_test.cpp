#include "cache/single_flight.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace thaw::cache {
namespace {

using namespace std::chrono_literals;

TEST(SingleFlightTest, ConcurrentCallersShareOneCall) {
  SingleFlight<int> flight;
  std::atomic<int> calls{0};
  std::atomic<int> leaders{0};
  std::mutex gate;
  gate.lock();  // holds the leader inside fn until every caller has arrived
  constexpr int kCallers = 16;
  std::vector<std::thread> threads;
  std::vector<int> results(kCallers, -1);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      bool leader = false;
      auto r = flight.run("k", 60s, [&]() -> Result<int> {
        ++calls;
        std::lock_guard hold(gate);
        return 42;
      }, &leader);
      leaders += leader;
      results[i] = r.is_ok() ? *r : -2;
    });
  }
  // The leader is held inside fn until every other caller is blocked on its result.
  while (flight.waiting() < kCallers - 1) std::this_thread::yield();
  gate.unlock();
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(leaders.load(), 1);
  for (int r : results) EXPECT_EQ(r, 42);
  EXPECT_EQ(flight.in_flight(), 0u);
}

TEST(SingleFlightTest, ErrorsReachEveryWaiterAndTheNextCallRetries) {
  SingleFlight<int> flight;
  auto r = flight.run("k", 1s, []() -> Result<int> { return make_error(Code::kUnavailable, "down"); });
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  auto r2 = flight.run("k", 1s, []() -> Result<int> { return 7; });
  EXPECT_EQ(*r2, 7);
}

TEST(SingleFlightTest, FollowerWaitIsBounded) {
  SingleFlight<int> flight;
  std::mutex gate;
  gate.lock();
  std::thread leader([&] {
    auto r = flight.run("k", 60s, [&]() -> Result<int> {
      std::lock_guard hold(gate);
      return 1;
    });
    EXPECT_EQ(*r, 1);
  });
  while (flight.in_flight() == 0) std::this_thread::yield();
  bool was_leader = true;
  auto r = flight.run("k", 10ms, []() -> Result<int> { return 2; }, &was_leader);
  EXPECT_FALSE(was_leader);
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  gate.unlock();
  leader.join();
}

TEST(SingleFlightTest, DifferentKeysRunIndependently) {
  SingleFlight<std::string> flight;
  auto a = flight.run("a", 1s, []() -> Result<std::string> { return std::string("A"); });
  auto b = flight.run("b", 1s, []() -> Result<std::string> { return std::string("B"); });
  EXPECT_EQ(*a, "A");
  EXPECT_EQ(*b, "B");
}

}  // namespace
}  // namespace thaw::cache
