// libthaw_grpc.so's one exported symbol (everything from the static libraries stays hidden).
#include <exception>

#include "grpc/grpc_front.h"

extern "C" __attribute__((visibility("default"))) thaw::grpc_front::GrpcFront* thaw_grpc_front_start(
    const thaw::grpc_front::GrpcOptions* options, const thaw::grpc_front::RouteLocal* route, std::string* error) {
  try {
    return thaw::grpc_front::start_front(*options, *route, error).release();
  } catch (const std::exception& e) {
    *error = std::string("starting gRPC failed: ") + e.what();
    return nullptr;
  }
}
