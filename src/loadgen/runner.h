// The open-loop engine: sends every request of a Schedule at its scheduled time over a pool of
// keep-alive HTTP/1.1 connections (Boost.Beast on one Asio thread), whatever the server does.
//
// Each arrival joins a FIFO; an idle connection takes it at once, otherwise a new connection is
// opened (up to max_connections) and the request waits for the first free one. Latency counts
// from the scheduled time, so time spent waiting behind a slow server is measured rather than
// hidden (no coordinated omission); the send time is recorded too. A request that is not
// answered by its scheduled time + timeout fails as a timeout (in flight) or a queue timeout
// (never sent), so the run always ends by the last offset + timeout.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/endpoint.h"
#include "http/message.h"
#include "loadgen/outcome.h"
#include "loadgen/schedule.h"

namespace thaw::loadgen {

struct LoadOptions {
  http::Endpoint endpoint;  // TCP host:port or a Unix socket
  std::string host_header;  // Host: value (defaults to the endpoint)
  std::string method = "GET";
  std::string path = "/";                     // may hold "{model}", replaced by the arrival's model name
  http::Headers headers;                      // sent as given with every request
  std::string body;                           // sent with every request (Content-Length set automatically)
  std::string default_model;                  // for "{model}" when the schedule names no models
  size_t max_connections = 256;               // pool cap
  std::chrono::milliseconds timeout{10'000};  // scheduled time -> complete response
  uint64_t max_response_bytes = 64 << 20;
  bool stop_on_signal = true;  // SIGINT/SIGTERM end the run; unfinished requests: interrupted
};

struct RunOutput {
  std::vector<Outcome> outcomes;  // one per schedule arrival, same order
  RunStats stats;
};

// Runs the whole schedule and returns when every request has ended. Errors only for unusable
// options (bad method, "{model}" without model names, unresolvable host); server failures are
// outcomes, not errors.
Result<RunOutput> run_load(const Schedule& schedule, const LoadOptions& options);

}  // namespace thaw::loadgen
