// libthaw_grpc.so's exported symbols (everything from the static libraries stays hidden).
#include <exception>

#include "grpc/grpc_front.h"
#include "grpc/keda_scaler.h"

extern "C" __attribute__((visibility("default"))) thaw::grpc_front::GrpcFront* thaw_grpc_front_start(
    const thaw::grpc_front::GrpcOptions* options, const thaw::grpc_front::RouteLocal* route, std::string* error) {
  try {
    return thaw::grpc_front::start_front(*options, *route, error).release();
  } catch (const std::exception& e) {
    *error = std::string("starting gRPC failed: ") + e.what();
    return nullptr;
  }
}

extern "C" __attribute__((visibility("default"))) thaw::grpc_front::GrpcFront* thaw_keda_scaler_start(
    const thaw::grpc_front::GrpcOptions* options, const thaw::grpc_front::DemandSource* source, std::string* error) {
  try {
    return thaw::grpc_front::start_scaler(*options, *source, error).release();
  } catch (const std::exception& e) {
    *error = std::string("starting the KEDA scaler failed: ") + e.what();
    return nullptr;
  }
}
