#include "cli/python_tool.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

extern char** environ;

namespace thaw::cli {
namespace {

namespace fs = std::filesystem;

std::string find_script(const std::string& relative) {
  if (const char* env = std::getenv("THAW_PLOT_SCRIPT"); env && relative == "tools/plot_sim.py") return env;
  std::error_code ec;
  fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (int up = 0; up < 4 && !dir.empty(); ++up, dir = dir.parent_path())
    if (fs::exists(dir / relative, ec)) return (dir / relative).string();
  if (fs::exists(relative, ec)) return relative;
  return {};
}

std::string find_python(const std::string& script) {
  if (const char* env = std::getenv("THAW_PYTHON")) return env;
  std::error_code ec;
  fs::path venv = fs::path(script).parent_path().parent_path() / ".venv/bin/python";
  if (fs::exists(venv, ec)) return venv.string();
  return "python3";
}

}  // namespace

Status run_python_tool(const std::string& relative, const std::vector<std::string>& tool_args) {
  std::string script = find_script(relative);
  if (script.empty()) return make_error(Code::kNotFound, "{} not found; run from the source tree", relative);
  std::string python = find_python(script);
  std::vector<std::string> args = {python, script};
  args.insert(args.end(), tool_args.begin(), tool_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    return make_error(Code::kIo, "cannot run {}", python);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(Code::kIo, "{} {} failed", python, script);
  return Status::ok();
}

}  // namespace thaw::cli
