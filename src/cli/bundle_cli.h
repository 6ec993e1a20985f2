// Helpers shared by the bundle subcommands (pack, inspect, verify): exit codes and sizes.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/status.h"

namespace thaw::cli {

// Exit code for a failed bundle operation: not found 4, corrupt or unsupported bundle 3,
// bad argument 2, anything else 1.
inline int bundle_exit_code(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kExitOk;
    case Code::kNotFound: return kExitNotFound;
    case Code::kCorrupt:
    case Code::kUnsupported: return kExitCorrupt;
    case Code::kInvalidArgument: return kExitUsage;
    default: return kExitFailure;
  }
}

// "83.2 MiB", "512 B".
inline std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace thaw::cli
