// Each `thaw` subcommand has a register_<name>(app, exit_code[, backends]) that adds it to the app;
// its callback stores the exit code in `*exit_code`. main() wires them in order.
#pragma once

#include <CLI/CLI.hpp>

namespace thaw::cli {

// Exit codes shared by every subcommand (documented in docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // the operation failed (I/O, model error)
  kExitUsage = 2,        // bad flags or arguments
  kExitCorrupt = 3,      // a bundle failed validation or checksum
  kExitNotFound = 4,     // a file, model or tensor does not exist
};

}  // namespace thaw::cli
