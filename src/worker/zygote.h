// Zygote mode: a template process loads and warms up the model once, starts no thread, and forks
// ready workers on request. Children share the template's weight pages copy-on-write and serve
// on their own sockets at once (no load, no warm-up).
//
// The control socket, its lines, the events and the signals are the worker protocol's zygote
// mode (docs/worker-protocol.md): one "fork [ENDPOINT]" per connection, answered by the child
// with "ready <pid> <endpoint>" once it serves, or "error <message>"; the ready descriptor gets
// "ready v1 unix:<control_path>" before the first fork. A child whose requester hung up exits at
// once. SIGTERM/SIGINT to the template stops every child (SIGTERM, then SIGKILL after 10 s) and
// exits; if the template dies otherwise, its children get SIGTERM (PR_SET_PDEATHSIG).
#pragma once

#include <cstdio>
#include <string>

#include "worker/worker.h"

namespace thaw::worker {

int run_zygote(const WorkerOptions& options, const ModelLoader& loader, ColdStartTimeline& timeline,
               const std::string& control_path, std::FILE* events);

}  // namespace thaw::worker
