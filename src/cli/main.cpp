// The `thaw` binary: one entry point, one subcommand per job.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace thaw::cli {
// Subcommands, each defined in its own cmd_*.cpp.
void register_load(CLI::App& app, int* exit_code);
void register_limits(CLI::App& app, int* exit_code);
void register_pack(CLI::App& app, int* exit_code);
void register_inspect(CLI::App& app, int* exit_code);
void register_verify(CLI::App& app, int* exit_code);
void register_sim(CLI::App& app, int* exit_code);
void register_run(CLI::App& app, int* exit_code);
void register_tokenize(CLI::App& app, int* exit_code);
void register_cache(CLI::App& app, int* exit_code);
void register_serve(CLI::App& app, int* exit_code);
void register_bench(CLI::App& app, int* exit_code);
}  // namespace thaw::cli

int main(int argc, char** argv) {
  using namespace thaw::cli;
  CLI::App app{"thaw: serve AI models behind scale-to-zero endpoints without the cold-start penalty"};
  app.set_version_flag("--version", "thaw 0.1.0");
  app.require_subcommand(1);
  int exit_code = kExitOk;
  const Register commands[] = {
      register_pack,
      register_inspect,
      register_verify,
      register_load,
      register_limits,
      register_sim,
      register_run,
      register_serve,
      register_cache,
      register_tokenize,
      register_bench,
  };
  for (Register r : commands)
    if (r != nullptr) r(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  return exit_code;
}
