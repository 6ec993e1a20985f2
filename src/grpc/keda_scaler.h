// KEDA's external scaler (service externalscaler.ExternalScaler, keda_scaler.proto) on a port of
// its own: KEDA asks whether a model's workload should run (IsActive, or StreamIsActive for the
// `external-push` trigger, which thaw pushes to the moment a request waits at the zero rung or the
// policy pre-warms) and how much demand it has (GetMetricSpec/GetMetrics: waiting + in flight per
// model, against a target of one instance's concurrency or scalerMetadata `targetDemand`). The
// model is scalerMetadata `model`.
//
// It lives in libthaw_grpc.so with the inference front end; the manager reaches it only through
// DemandSource, so the module links no manager code.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "grpc/grpc_front.h"
#include "manager/demand.h"

namespace thaw::grpc_front {

// What the scaler asks of the manager (Manager::demand and its DemandHub).
struct DemandSource {
  std::function<Result<manager::ModelDemand>(const std::string& model)> demand;
  std::function<uint64_t(manager::DemandListener)> subscribe;
  std::function<void(uint64_t)> unsubscribe;
};

// Listens and serves; nullptr with `error` set when it cannot. stop() ends open streams first.
std::unique_ptr<GrpcFront> start_scaler(const GrpcOptions& options, DemandSource source, std::string* error);

}  // namespace thaw::grpc_front

// The module's second entry point (grpc_module.cpp). Owns nothing it is given.
extern "C" thaw::grpc_front::GrpcFront* thaw_keda_scaler_start(const thaw::grpc_front::GrpcOptions* options,
                                                                const thaw::grpc_front::DemandSource* source,
                                                                std::string* error);
