// The gRPC front end: the Open Inference Protocol's GRPCInferenceService (live, ready, model
// ready, server and model metadata, model infer, statistics, repository index/load/unload) on its
// own port, answered by the same routes as REST through http::Server::route_local, so the models,
// the ladder, tiers, limits and errors are the same. Metadata `x-latency-tier` picks the tier; any
// `x-*` and `authorization` metadata reach the routes as headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/server.h"

namespace thaw::grpc_front {

struct GrpcOptions {
  std::string host = "127.0.0.1";
  int port = 0;                         // 0: the OS picks one; read it from port()
  uint64_t max_message_bytes = 64 << 20;  // a larger request gets RESOURCE_EXHAUSTED
};

class GrpcFront {
 public:
  // Listens and starts serving; `http` must outlive the front end (stop() it first).
  static Result<std::unique_ptr<GrpcFront>> start(const GrpcOptions& options, http::Server& http);
  ~GrpcFront();
  GrpcFront(const GrpcFront&) = delete;
  GrpcFront& operator=(const GrpcFront&) = delete;

  int port() const;
  // Stops accepting calls, lets calls in flight finish for up to `grace`, then cancels the rest.
  void stop(std::chrono::milliseconds grace);

  struct Impl;

 private:
  explicit GrpcFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::grpc_front
