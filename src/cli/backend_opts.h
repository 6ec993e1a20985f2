// `--backend-opt KEY=VALUE` on `thaw pack` and `thaw run`: one repeatable option for every
// backend, plus the older spellings the registry's plugins declare for their options.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/registry.h"

namespace thaw::cli {

enum class BackendOptKind { kPack, kCreate };

// What --backend-opt and the aliases collected, as "key=value" items.
struct BackendOptItems {
  std::vector<std::string> given;    // --backend-opt
  std::vector<std::string> aliased;  // alias flags, already turned into key=value
  std::vector<std::string> all() const;
};

// Adds --backend-opt and every plugin's aliases of `kind` options to `cmd`, and lists each
// plugin's options in its footer. `items` must outlive parsing.
void add_backend_opts(CLI::App* cmd, const engine::Registry& backends, BackendOptKind kind,
                      BackendOptItems* items);

}  // namespace thaw::cli
