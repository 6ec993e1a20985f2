// Zygote mode: a template process loads and warms up the model once, starts no thread, and forks
// ready workers on request. Children share the template's weight pages copy-on-write and serve
// on their own sockets at once (no load, no warm-up).
//
// Control: a Unix stream socket at `control_path`. A client connects and sends one line,
// "fork [ENDPOINT]\n" (ENDPOINT as for --port/--unix: "127.0.0.1:0" when omitted); the child
// answers on that connection "ready <pid> <endpoint>\n" once it listens, or "error <message>\n".
// Events: {"event":"zygote_ready",...} when the template is ready to fork, {"event":"forked",
// "pid":...} per child, and each child's {"event":"ready","forked":true,"fork_to_ready_ms":...}.
// With --ready-fd, "ready <control_path>\n" is written there when the template is ready to fork
// (then it is closed, before any child exists). A child whose requester hung up before its ready
// answer exits at once. SIGTERM/SIGINT to the template stops every child (SIGTERM, then SIGKILL
// after 10 s) and exits; if the template dies otherwise, its children get SIGTERM
// (PR_SET_PDEATHSIG).
#pragma once

#include <cstdio>
#include <string>

#include "worker/worker.h"

namespace thaw::worker {

int run_zygote(const WorkerOptions& options, const ModelLoader& loader, ColdStartTimeline& timeline,
               const std::string& control_path, std::FILE* events);

}  // namespace thaw::worker
