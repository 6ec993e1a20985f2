// libthaw_grpc.so's exported symbols (everything from the static libraries stays hidden).
#include <exception>

#include "grpc/grpc_front.h"
#include "grpc/keda_scaler.h"

namespace {

// No exception crosses the module's edge: it becomes `error` and a null server.
template <class Start>
thaw::grpc_front::GrpcFront* guarded(const char* what, std::string* error, Start start) {
  try {
    return start().release();
  } catch (const std::exception& e) {
    *error = std::string("starting ") + what + " failed: " + e.what();
    return nullptr;
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) thaw::grpc_front::GrpcFront* thaw_grpc_front_start(
    const thaw::grpc_front::GrpcOptions* options, const thaw::grpc_front::RouteLocal* route, std::string* error) {
  return guarded("gRPC", error, [&] { return thaw::grpc_front::start_front(*options, *route, error); });
}

extern "C" __attribute__((visibility("default"))) thaw::grpc_front::GrpcFront* thaw_keda_scaler_start(
    const thaw::grpc_front::GrpcOptions* options, const thaw::grpc_front::DemandSource* source, std::string* error) {
  return guarded("the KEDA scaler", error, [&] { return thaw::grpc_front::start_scaler(*options, *source, error); });
}
