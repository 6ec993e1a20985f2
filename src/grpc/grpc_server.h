// What the module's gRPC servers share: listening with thaw's settings and stopping in order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "grpc/grpc_front.h"

namespace thaw::grpc_front {

// Serves `service` on options.host:options.port (0: a free port). Messages over max_message_bytes
// are refused; a busy port fails (no SO_REUSEPORT sharing); one connection carries at most 1,024
// calls and is closed after 5 minutes idle. `before_stop` runs first when the server stops (to end
// long-lived streams). nullptr with `error` naming `what` when the port cannot be bound.
std::unique_ptr<GrpcFront> serve_service(const GrpcOptions& options, std::shared_ptr<::grpc::Service> service,
                                         uint64_t max_message_bytes, std::string_view what, std::string* error,
                                         std::function<void()> before_stop = {});

}  // namespace thaw::grpc_front
