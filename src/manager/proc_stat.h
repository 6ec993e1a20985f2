// What /proc says about a process: whether it still runs, when it started, its memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"

namespace thaw::manager {

struct ProcStat {
  char state = '?';          // R, S, D, Z (zombie), X (dead), ...
  uint64_t start_ticks = 0;  // clock ticks after boot; with the pid, identifies one process
};

// Parses /proc/PID/stat; nullopt when the process does not exist (or the file is unreadable).
std::optional<ProcStat> read_proc_stat(pid_t pid);

// True while `pid` exists, is not a zombie, and (when start_ticks != 0) is the process that
// started at `start_ticks` rather than a later one that reused the pid. Allocation-free.
bool process_running(pid_t pid, uint64_t start_ticks);

// A "Name:   N kB" field of /proc/PID/smaps_rollup, in bytes.
Result<uint64_t> smaps_rollup_bytes(pid_t pid, std::string_view field);

}  // namespace thaw::manager
