// `thaw run` for a model whose plugin runs it in a worker of its own (engine::ExternalWorker):
// exec that worker in this process's place with the same arguments.
#pragma once

#include <string>
#include <vector>

#include "engine/registry.h"

namespace thaw::cli {

// When `bundle`'s plugin has an external worker, execs it with this process's `thaw run`
// arguments appended and does not return on success. Returns false when the bundle runs inside
// thaw (or cannot be opened: the in-process path reports that). When preparing or exec'ing the
// worker fails, writes the protocol's error line on `ready_fd` and an error event on stdout, sets
// `*exit_code` and returns true.
bool exec_external_worker(const engine::Registry& backends, const std::string& bundle,
                          const std::vector<std::string>& backend_opts, int ready_fd, int* exit_code);

}  // namespace thaw::cli
