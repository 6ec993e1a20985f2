// Starts the gRPC front end from its module, libthaw_grpc.so next to the executable, loaded on
// first use: a process that never serves gRPC never maps the gRPC libraries.
#pragma once

#include <memory>

#include "common/status.h"
#include "grpc/grpc_front.h"
#include "grpc/keda_scaler.h"
#include "http/server.h"

namespace thaw::grpc_front {

// Serves gRPC for `http`'s routes; `http` must outlive the front end (stop() it first).
// kUnavailable when the port cannot be bound, kNotFound when this build has no gRPC module.
Result<std::unique_ptr<GrpcFront>> start_grpc(const GrpcOptions& options, http::Server& http);
// Serves KEDA's external scaler over `source` (keda_scaler.h); what `source` reaches must outlive
// the scaler (stop() it first). Errors as start_grpc's.
Result<std::unique_ptr<GrpcFront>> start_keda_scaler(const GrpcOptions& options, DemandSource source);

}  // namespace thaw::grpc_front
