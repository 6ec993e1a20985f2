// The worker protocol, version 1 (docs/worker-protocol.md): how a supervisor starts a worker,
// learns that it serves, asks a zygote for ready children and stops them. Both sides take the
// version, the names and every line's format from here; each line has a format function (for
// the side that writes it) and a parse function (for the side that reads it), errors as values.
//
// Channels: argv and the environment at exec; the ready descriptor (one line from the worker);
// the zygote's control socket (one command, one reply per connection); JSON event lines on
// stdout; the HTTP routes below.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/endpoint.h"

namespace thaw::protocol {

// The version this build speaks, on both sides.
inline constexpr int kVersion = 1;

// ----- Start-up -----------------------------------------------------------------------------

// The descriptor number the ready pipe's write end has in the worker.
inline constexpr int kReadyFd = 3;
// Set by the supervisor: the versions it speaks, comma-separated decimal ("1").
inline constexpr char kVersionEnv[] = "THAW_WORKER_PROTOCOL";
// Set by the supervisor: CLOCK_BOOTTIME in nanoseconds just before exec.
inline constexpr char kExecTimeEnv[] = "THAW_EXEC_BOOTTIME_NS";

// The flags the supervisor passes after the worker command and the bundle.
inline constexpr std::string_view kFlagHost = "--host";
inline constexpr std::string_view kFlagPort = "--port";
inline constexpr std::string_view kFlagUnix = "--unix";
inline constexpr std::string_view kFlagZygote = "--zygote";
inline constexpr std::string_view kFlagReadyFd = "--ready-fd";
inline constexpr std::string_view kFlagModelName = "--model-name";

// Arguments after the worker command (`thaw run`): BUNDLE, then where to listen (`--unix PATH`
// or `--host H --port P`) or `--zygote CONTROL_PATH`, then `--ready-fd 3`, then `extra`.
std::vector<std::string> instance_args(std::string_view bundle, const http::Endpoint& listen,
                                       std::span<const std::string> extra);
std::vector<std::string> zygote_args(std::string_view bundle, std::string_view control_path,
                                     std::span<const std::string> extra);

// The value of kVersionEnv a supervisor speaking only kVersion sets.
std::string announced_versions();

// Worker side: the version to speak given kVersionEnv's value (null when unset: a person
// started the worker, so it speaks kVersion). kUnsupported, naming both sides' versions and
// what to do, when the list holds no version this worker speaks; kInvalidArgument when the
// value is not a list of versions.
Result<int> choose_version(const char* announced);

// ----- The ready descriptor: one line from the worker, then it is closed --------------------

// Longest line on the ready descriptor or the control socket, newline included.
inline constexpr size_t kMaxLineBytes = 4096;

// "ready v1 <endpoint>\n": the worker serves at `endpoint` (port 0 resolved to the bound port);
// a zygote template reports its control socket, "unix:<control path>".
std::string format_ready(const http::Endpoint& endpoint);
// "error <message>\n": the worker will not become ready and exits non-zero. Also the zygote's
// error reply. Line breaks in `message` become spaces.
std::string format_error(std::string_view message);

// What a worker reported on its ready descriptor.
struct ReadyReport {
  bool ready = false;       // false: the worker reported an error and exits
  http::Endpoint endpoint;  // when ready
  std::string error;        // when not ready: the worker's message
};

// Supervisor side: parses the line (without its newline). kUnsupported, naming both versions
// and what to do, for a line of another version or of none (a worker older than version 1);
// kCorrupt for anything else that is not a ready or error line.
Result<ReadyReport> parse_ready_report(std::string_view line);

// ----- The zygote's control socket: one command, one reply, per connection ------------------

// The supervisor sends its command within this of connecting.
inline constexpr std::chrono::milliseconds kCommandTimeout{2'000};
// Where a child listens when the command names no endpoint.
inline const http::Endpoint kDefaultForkEndpoint = http::Endpoint::tcp("127.0.0.1", 0);

// "fork <endpoint>\n".
std::string format_fork(const http::Endpoint& listen);
// Zygote side: the endpoint a "fork [ENDPOINT]" command asks for (kDefaultForkEndpoint when it
// names none). kInvalidArgument with a message fit for the error reply otherwise.
Result<http::Endpoint> parse_fork(std::string_view line);

// "ready <pid> <endpoint>\n", written by the child once it serves.
std::string format_forked(pid_t pid, const http::Endpoint& endpoint);

struct ForkReply {
  pid_t pid = -1;
  http::Endpoint endpoint;
};

// Supervisor side: parses the reply (without its newline). kUnavailable carrying the zygote's
// message for an error reply; kCorrupt for anything else. A reply with a pid but a bad endpoint
// is kCorrupt and stores the pid in `*stray` (a child nobody can reach: the caller kills it).
Result<ForkReply> parse_forked(std::string_view line, pid_t* stray = nullptr);

// ----- HTTP routes the supervisor relies on -------------------------------------------------

inline constexpr std::string_view kLivePath = "/v2/health/live";    // 200 once listening
inline constexpr std::string_view kReadyPath = "/v2/health/ready";  // 200 once ready, else 503
inline constexpr std::string_view kWarmPath = "/warm";              // keep-warm ping: as ready
// Model routes under which the gateway forwards metadata, config and inference requests.
inline constexpr std::string_view kModelRoute = "/v2/models/{model}";
inline constexpr std::string_view kModelVersionRoute = "/v2/models/{model}/versions/{version}";
inline constexpr std::string_view kInferSuffix = "/infer";  // after either model route
// "/v2/models/<model>/infer".
std::string infer_path(std::string_view model);

// ----- Event lines on stdout: {"event":<name>,...} ------------------------------------------

namespace event {
inline constexpr std::string_view kListening = "listening";
inline constexpr std::string_view kReady = "ready";
inline constexpr std::string_view kFirstResponse = "first_response";
inline constexpr std::string_view kStopped = "stopped";
inline constexpr std::string_view kError = "error";
inline constexpr std::string_view kZygoteReady = "zygote_ready";
inline constexpr std::string_view kForked = "forked";
inline constexpr std::string_view kAbandoned = "abandoned";
inline constexpr std::string_view kChildExited = "child_exited";
}  // namespace event

}  // namespace thaw::protocol
