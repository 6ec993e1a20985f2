// One worker process: load a model, listen, warm up, report ready, serve until SIGTERM/SIGINT.
// It speaks the worker protocol (docs/worker-protocol.md, src/protocol/worker_protocol.h).
//
// Start-up order: check the supervisor's protocol version -> load (bundle open, session
// create) -> listen (live, not ready: /infer answers 503) -> warm-up -> ready. Each step is
// marked on the ColdStartTimeline and the process prints one JSON line per event on `events`
// (stdout for `thaw run`): listening, ready (with the timeline), first_response, stopped, and
// error when the start fails. No thread is started before listening, so a process may fork
// after loading.
#pragma once

#include <chrono>
#include <signal.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"
#include "http/server.h"
#include "worker/cold_start.h"
#include "worker/model_service.h"
#include "worker/ready_descriptor.h"

namespace thaw::worker {

struct WorkerOptions {
  std::string bundle_path;
  http::ServerOptions server;
  ServiceOptions service;
  // Passes over the warm-up requests before ready (0: none). Negative: 1, except for a generative
  // model in a fresh process: its warm-up would only delay the request that is waiting, which
  // faults in the same memory; a zygote template warms up (its children inherit what that made).
  int warmup_passes = -1;
  int ready_fd = -1;              // if >= 0: the ready descriptor (one line, then closed)
  int grpc_port = -1;             // >= 0: also serve the gRPC inference service here (0: a free port)
  // The protocol versions the supervisor announced (THAW_WORKER_PROTOCOL); nullopt: none.
  std::optional<std::string> supervisor_versions;
  std::chrono::milliseconds stop_grace{10'000};
  // Test option: the worker stays live but not ready this much longer (after listening, before
  // warm-up; a zygote template before loading), so that tests can watch the 503 window and hold
  // requests behind a slow cold start. A stop signal during the delay ends the start.
  std::chrono::milliseconds debug_start_delay{0};
};

// Loads a bundle into a LoadedModel, marking "bundle_open" and "session_create" on the timeline.
using ModelLoader = std::function<Result<LoadedModel>(const std::string& bundle_path, ColdStartTimeline&)>;

// Runs until SIGINT or SIGTERM (blocked in the calling thread and every thread it starts).
// Returns a process exit code: 0 after a clean stop, 1 when loading or warm-up failed, 3 when the
// bundle is corrupt.
int run_worker(const WorkerOptions& options, const ModelLoader& loader, ColdStartTimeline& timeline,
               std::FILE* events);

// The exit code of a start whose load failed: 3 for a corrupt bundle, else 1.
int load_failure_exit_code(const Status& s);
// Writes one event as a JSON line and flushes (a no-op when `out` is null).
void emit(std::FILE* out, const nlohmann::json& event);
// An "error" event and a line on stderr.
void emit_error(std::FILE* out, std::string_view stage, const Status& s);
// A start that failed: emit_error, and "error <stage>: <message>" on the ready descriptor.
void report_start_failure(std::FILE* out, ReadyDescriptor& ready, std::string_view stage, const Status& s);
// Checks the supervisor's protocol version; a refusal is reported as a failed start (false).
bool accept_supervisor(const WorkerOptions& options, std::FILE* out, ReadyDescriptor& ready);
// Blocks SIGINT and SIGTERM in the calling thread (and threads it starts later); returns the set.
sigset_t block_stop_signals();
// Waits, one-second ticks, until one of `signals` arrives; returns it.
int wait_for_stop_signal(const sigset_t& signals);
// Waits up to `limit` for one of `signals`; returns it, or 0 when the time ran out.
int wait_for_stop_signal_for(const sigset_t& signals, std::chrono::milliseconds limit);
// One of `signals` if it is pending, else 0; does not wait.
int pending_stop_signal(const sigset_t& signals);
// Sleeps for options.debug_start_delay; returns the stop signal that cut it short, or 0.
int debug_start_delay(const WorkerOptions& options, const sigset_t& signals);

// Renders the /metrics page: the service's, the server's and the cold-start timeline's metrics.
std::string render_metrics(const ModelService& service, const http::Server* server,
                           const ColdStartTimeline& timeline);

}  // namespace thaw::worker
