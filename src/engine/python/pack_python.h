// Packing a Python handler: the module, its requirements and the files it reads, as one bundle.
#pragma once

#include <memory>
#include <string>

#include "bundle/pack.h"
#include "common/status.h"

namespace thaw::engine {

inline constexpr std::string_view kPythonBackendName = "python";

struct PythonPackOptions {
  std::string requirements;  // a pip requirements file; empty: none
};

// The bundle contents for handler module `handler` (a .py file): the module as a file named by its
// basename, the requirements as "requirements.txt", and metadata.python = {"handler", "module",
// "requirements"}. Extra files are added by the caller (`thaw pack --extra`). The model's name
// defaults to the handler's stem, or to its folder's name for a file called handler.py.
// kInvalidArgument when the module name is not a Python identifier; kNotFound for a missing file.
Result<std::unique_ptr<bundle::PackedModel>> pack_python(const std::string& handler,
                                                         const PythonPackOptions& options);

}  // namespace thaw::engine
