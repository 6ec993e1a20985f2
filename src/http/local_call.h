// A request that arrived by another protocol (gRPC) answered as if a connection had sent it:
// through the server's router, on one of its loops, so every route, tier, limit and metric applies
// unchanged. The answer, whole or streamed, comes back as one Response.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "http/message.h"

namespace thaw::http {

// Gets the whole response once, on the server's loop (or on the cancelling thread).
using LocalDone = std::function<void(Response)>;

// Status of the Response a cancelled call delivers (the client closed the request; nginx's 499).
inline constexpr int kClientClosedRequest = 499;

struct LocalCallOptions {
  // A streamed answer longer than this is cut off and delivered as 413.
  uint64_t max_response_bytes = 64ull << 20;
};

// The caller's handle on one call. Dropping it does not cancel the call.
class LocalCall {
 public:
  virtual ~LocalCall() = default;
  // The client went away: the route sees its request cancelled and `done` gets 499 at once.
  virtual void cancel() = 0;
};

}  // namespace thaw::http
