// The gRPC front end: the Open Inference Protocol's GRPCInferenceService (live, ready, model
// ready, server and model metadata, model config, model infer, statistics, repository
// index/load/unload) on its own port, answered by the same routes as REST through a local call
// (http::Server::route_local), so the models, the ladder, tiers, limits and errors are the same.
// Metadata `x-latency-tier` picks the tier; `authorization` and any `x-*` metadata reach the routes
// as headers.
//
// It lives in a module of its own (libthaw_grpc.so, grpc_module.h loads it) so that the gRPC
// libraries cost a worker's exec nothing unless --grpc-port asks for them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "http/local_call.h"

namespace thaw::grpc_front {

struct GrpcOptions {
  std::string host = "127.0.0.1";
  int port = 0;                           // 0: the OS picks one; read it from port()
  uint64_t max_message_bytes = 64 << 20;  // a larger request gets RESOURCE_EXHAUSTED
};

// Answers one REST request in-process (http::Server::route_local).
using RouteLocal =
    std::function<std::shared_ptr<http::LocalCall>(http::Request, http::LocalDone, const http::LocalCallOptions&)>;

class GrpcFront {
 public:
  virtual ~GrpcFront() = default;  // stop(0) if still running
  virtual int port() const = 0;
  // Stops accepting calls, lets calls in flight finish for up to `grace`, then cancels the rest.
  // Call it before the HTTP server that answers the calls stops.
  virtual void stop(std::chrono::milliseconds grace) = 0;
};

// Listens and starts serving; nullptr with `error` set when it cannot.
std::unique_ptr<GrpcFront> start_front(const GrpcOptions& options, RouteLocal route, std::string* error);

}  // namespace thaw::grpc_front

// The module's entry point for this service, found with dlsym (grpc_module.cpp). Owns nothing it is given.
extern "C" thaw::grpc_front::GrpcFront* thaw_grpc_front_start(const thaw::grpc_front::GrpcOptions* options,
                                                               const thaw::grpc_front::RouteLocal* route,
                                                               std::string* error);
