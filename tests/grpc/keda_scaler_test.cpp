// The KEDA scaler's stream against a reader that does not keep up: the manager's side (publishing
// events) never waits for it, answers coalesce, and the last one sent is the latest state.
#include "grpc/keda_scaler.h"

#include <map>
#include <mutex>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "keda_scaler.grpc.pb.h"

namespace thaw::grpc_front {
namespace {

// The manager's part in DemandSource, on a table the test sets.
struct TestDemand {
  std::mutex mu;
  std::map<std::string, manager::ModelDemand> models;
  std::vector<std::pair<uint64_t, manager::DemandListener>> listeners;

  DemandSource source() {
    return {[this](const std::string& model) -> Result<manager::ModelDemand> {
              std::lock_guard lock(mu);
              auto it = models.find(model);
              if (it == models.end()) return make_error(Code::kNotFound, "unknown model '{}'", model);
              return it->second;
            },
            [this](manager::DemandListener l) {
              std::lock_guard lock(mu);
              listeners.emplace_back(listeners.size() + 1, std::move(l));
              return static_cast<uint64_t>(listeners.size());
            },
            [this](uint64_t id) {
              std::lock_guard lock(mu);
              std::erase_if(listeners, [id](const auto& l) { return l.first == id; });
            }};
  }
  void publish(const std::string& model, manager::DemandEvent e) {
    std::lock_guard lock(mu);
    for (auto& [id, l] : listeners) l(model, e);
  }
};

TEST(KedaScaler, ASlowStreamReaderCoalescesAndGetsTheLatestState) {
  TestDemand demand;
  demand.models["m"] = manager::ModelDemand{};
  std::string error;
  auto scaler = start_scaler(GrpcOptions{"127.0.0.1", 0}, demand.source(), &error);
  ASSERT_TRUE(scaler) << error;

  auto stub = externalscaler::ExternalScaler::NewStub(
      ::grpc::CreateChannel("127.0.0.1:" + std::to_string(scaler->port()), ::grpc::InsecureChannelCredentials()));
  externalscaler::ScaledObjectRef ref;
  ref.set_name("so");
  (*ref.mutable_scalermetadata())["model"] = "m";
  ::grpc::ClientContext ctx;
  auto reader = stub->StreamIsActive(&ctx, ref);
  externalscaler::IsActiveResponse answer;
  ASSERT_TRUE(reader->Read(&answer));
  EXPECT_FALSE(answer.result()) << "the state when the stream opened";

  // The reader reads nothing meanwhile: publishing must not wait for it (a wait would hang here).
  constexpr int kEvents = 100'000;
  for (int i = 0; i < kEvents; ++i)
    demand.publish("m", i % 2 == 0 ? manager::DemandEvent::kWaitingAtZero : manager::DemandEvent::kFellToZero);
  demand.publish("other", manager::DemandEvent::kFellToZero);  // another model's: not on this stream
  demand.publish("m", manager::DemandEvent::kPrewarmPlanned);

  // Ends the stream once its latest answer is written (the grace only bounds a stuck client).
  scaler->stop(std::chrono::seconds(30));
  int read = 0;
  bool last = false;
  while (reader->Read(&answer)) {
    ++read;
    last = answer.result();
  }
  EXPECT_TRUE(reader->Finish().ok());
  RecordProperty("answers_read", read);
  EXPECT_GT(read, 0);
  EXPECT_LT(read, kEvents) << "answers coalesce while a write is in flight";
  EXPECT_TRUE(last) << "the last answer is the latest state (a pre-warm)";
}

TEST(KedaScaler, AnUnknownModelEndsTheStreamWithNotFound) {
  TestDemand demand;
  std::string error;
  auto scaler = start_scaler(GrpcOptions{"127.0.0.1", 0}, demand.source(), &error);
  ASSERT_TRUE(scaler) << error;
  auto stub = externalscaler::ExternalScaler::NewStub(
      ::grpc::CreateChannel("127.0.0.1:" + std::to_string(scaler->port()), ::grpc::InsecureChannelCredentials()));
  externalscaler::ScaledObjectRef ref;
  (*ref.mutable_scalermetadata())["model"] = "nope";
  ::grpc::ClientContext ctx;
  auto reader = stub->StreamIsActive(&ctx, ref);
  externalscaler::IsActiveResponse answer;
  EXPECT_FALSE(reader->Read(&answer));
  auto status = reader->Finish();
  EXPECT_EQ(status.error_code(), ::grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("nope"), std::string::npos);
  EXPECT_TRUE(demand.listeners.size() == 1) << "the service's one subscription";
}

}  // namespace
}  // namespace thaw::grpc_front
