// Where the Python worker comes from: the interpreter and the thaw_worker package.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace thaw::engine {

// The interpreter to run handlers with: `configured` (--backend-opt python=PATH) when set, else
// $THAW_PYTHON, else python3 found on $PATH. kNotFound saying how to name one.
Result<std::string> find_python(std::string_view configured);

// The folder holding the thaw_worker package: $THAW_PYTHON_LIB, else python/ beside the binary's
// folder (a build tree or an install prefix), else share/thaw/python there, else the source tree
// the binary was built from. kNotFound when none holds thaw_worker/__main__.py.
Result<std::string> find_worker_package();

}  // namespace thaw::engine
