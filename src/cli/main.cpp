// The `thaw` binary: one entry point, one subcommand per job.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "engine/builtin_registry.h"

namespace thaw::cli {
// Subcommands, each defined in its own cmd_*.cpp.
void register_load(CLI::App& app, int* exit_code);
void register_limits(CLI::App& app, int* exit_code);
void register_pack(CLI::App& app, int* exit_code, const engine::Registry& backends);
void register_inspect(CLI::App& app, int* exit_code);
void register_verify(CLI::App& app, int* exit_code);
void register_sim(CLI::App& app, int* exit_code);
void register_run(CLI::App& app, int* exit_code, const engine::Registry& backends);
void register_tokenize(CLI::App& app, int* exit_code);
void register_cache(CLI::App& app, int* exit_code);
void register_serve(CLI::App& app, int* exit_code, const engine::Registry& backends);
void register_bench(CLI::App& app, int* exit_code);
}  // namespace thaw::cli

int main(int argc, char** argv) {
  using namespace thaw::cli;
  CLI::App app{"thaw: serve AI models behind scale-to-zero endpoints without the cold-start penalty"};
  app.set_version_flag("--version", "thaw 0.1.0");
  app.require_subcommand(1);
  int exit_code = kExitOk;
  // The backends compiled in; pack, run and serve ask it and never name a backend.
  const thaw::engine::Registry backends = thaw::engine::make_builtin_registry();
  register_pack(app, &exit_code, backends);
  register_inspect(app, &exit_code);
  register_verify(app, &exit_code);
  register_load(app, &exit_code);
  register_limits(app, &exit_code);
  register_sim(app, &exit_code);
  register_run(app, &exit_code, backends);
  register_serve(app, &exit_code, backends);
  register_cache(app, &exit_code);
  register_tokenize(app, &exit_code);
  register_bench(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  return exit_code;
}
