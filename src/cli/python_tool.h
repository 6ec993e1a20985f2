// Running one of the repository's Python tools (plots) from the binary.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace thaw::cli {

// Runs `relative` (e.g. "tools/plot_sim.py"), found next to the source tree the binary was built
// from (up to four folders above it) or in the working directory, with the repository's .venv
// Python when there is one ($THAW_PYTHON overrides; $THAW_PLOT_SCRIPT overrides the script).
Status run_python_tool(const std::string& relative, const std::vector<std::string>& args);

}  // namespace thaw::cli
