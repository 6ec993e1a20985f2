#include "grpc/grpc_server.h"

#include <algorithm>
#include <chrono>
#include <climits>

namespace thaw::grpc_front {
namespace {

class RunningServer final : public GrpcFront {
 public:
  RunningServer(std::shared_ptr<::grpc::Service> service, std::unique_ptr<::grpc::Server> server, int port,
                std::function<void()> before_stop)
      : service_(std::move(service)), server_(std::move(server)), port_(port), before_stop_(std::move(before_stop)) {}
  ~RunningServer() override { stop(std::chrono::milliseconds(0)); }
  int port() const override { return port_; }
  void stop(std::chrono::milliseconds grace) override {
    if (!server_) return;
    if (before_stop_) before_stop_();
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    server_.reset();
  }

 private:
  std::shared_ptr<::grpc::Service> service_;  // outlives the server that calls it
  std::unique_ptr<::grpc::Server> server_;
  int port_;
  std::function<void()> before_stop_;
};

}  // namespace

std::unique_ptr<GrpcFront> serve_service(const GrpcOptions& options, std::shared_ptr<::grpc::Service> service,
                                         uint64_t max_message_bytes, std::string_view what, std::string* error,
                                         std::function<void()> before_stop) {
  ::grpc::ServerBuilder builder;
  const std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  int port = 0;
  builder.AddListeningPort(host + ":" + std::to_string(options.port), ::grpc::InsecureServerCredentials(), &port);
  const int max = static_cast<int>(std::min<uint64_t>(max_message_bytes, INT_MAX));
  builder.SetMaxReceiveMessageSize(max);
  builder.SetMaxSendMessageSize(max);
  // Without this a second server on a busy port would share it (SO_REUSEPORT) instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // One connection cannot open unbounded calls; idle connections do not hold descriptors forever.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1024);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 300'000);
  builder.RegisterService(service.get());
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    *error = "cannot listen for " + std::string(what) + " on " + options.host + ":" + std::to_string(options.port) +
             " (is the port in use?)";
    return nullptr;
  }
  return std::make_unique<RunningServer>(std::move(service), std::move(server), port, std::move(before_stop));
}

}  // namespace thaw::grpc_front
