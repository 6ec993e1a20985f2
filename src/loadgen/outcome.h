// How each scheduled request ended. Every request ends exactly once: with an HTTP status or with
// one Failure, never silently.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace thaw::loadgen {

enum class Failure : uint8_t {
  kNone,              // an HTTP response arrived (any status)
  kConnectRefused,    // nothing listening
  kConnectFailed,     // any other connect error (unreachable, resolver, ...)
  kConnectTimeout,    // connect did not finish within the timeout
  kConnectionClosed,  // the server closed or reset the connection before the response was complete
  kTimeout,           // sent, but the response was not complete by scheduled time + timeout
  kQueueTimeout,      // never sent: every connection stayed busy until scheduled time + timeout
  kBadResponse,       // the response was not valid HTTP/1.1
  kResponseTooLarge,  // the response body exceeded the size limit
  kInterrupted,       // the run was stopped (SIGINT/SIGTERM) before this request ended
  kUnresolved,        // not ended (a bug in the load generator; reported, never expected)
};
inline constexpr size_t kFailureKinds = static_cast<size_t>(Failure::kUnresolved) + 1;

// Stable snake_case names used in reports and JSON ("connect_refused", "timeout", ...).
std::string_view failure_name(Failure f);

// Times in nanoseconds from the start of the run (the instant of schedule offset 0).
struct Outcome {
  int64_t sent_ns = -1;  // first byte handed to the socket; -1 when never sent
  int64_t done_ns = -1;  // response complete, or the moment the failure was known
  int16_t status = 0;    // HTTP status when failure == kNone
  Failure failure = Failure::kUnresolved;
  uint8_t attempts = 0;  // sends; 2 when a stale keep-alive connection forced one resend
};

// Run-wide facts the per-request outcomes do not carry.
struct RunStats {
  int64_t wall_ns = 0;  // start of the run to the last request ending
  uint64_t connections_opened = 0;
  uint64_t peak_connections = 0;
  uint64_t resends = 0;  // requests resent once after a stale keep-alive connection
  // The first error message seen for each Failure kind, for the report.
  std::array<std::string, kFailureKinds> first_error;
  // The start of the first response body seen for each HTTP status >= 400 (servers say why there).
  std::map<int, std::string> first_error_body;
};

}  // namespace thaw::loadgen
