#include "engine/llm/hf_to_gguf.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

extern char** environ;

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// The converter's last words worth showing: the line that says why, and the tail.
std::string explain_failure(const std::string& log_path) {
  std::ifstream in(log_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  std::string why;
  for (const std::string& l : lines)
    if (l.find("not supported") != std::string::npos || l.find("Error") != std::string::npos ||
        l.find("ERROR") != std::string::npos || l.find("error:") != std::string::npos ||
        l.find("not recognized") != std::string::npos)
      why = l;
  std::string hint;
  if (why.find("ModuleNotFoundError") != std::string::npos)
    hint = "; the converter's Python needs torch, numpy, safetensors, sentencepiece and transformers "
           "(set THAW_PYTHON to one that has them)";
  else if (why.find("not supported") != std::string::npos)
    hint = "; llama.cpp's converter of this version does not convert this architecture";
  else if (why.find("pre-tokenizer") != std::string::npos)
    hint = "; the tokenizer's pre-tokenizer is unknown to llama.cpp (neither its hash nor its regex)";
  std::string tail;
  for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) tail += "\n    " + lines[i];
  return (why.empty() ? std::string("the converter failed") : why) + hint +
         (tail.empty() ? "" : "\n  the converter's last lines:" + tail);
}

}  // namespace

bool is_hf_model_dir(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec) || !fs::is_regular_file(fs::path(path) / "config.json", ec)) return false;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".safetensors" || (name.starts_with("pytorch_model") && name.ends_with(".bin")))
      return true;
  }
  return false;
}

Result<HfConvertSetup> find_hf_converter() {
  HfConvertSetup s;
  std::error_code ec;
  s.llama_src = env("THAW_LLAMA_SRC");
  if (s.llama_src.empty()) s.llama_src = THAW_LLAMA_SRC_DIR;
  if (!fs::is_regular_file(fs::path(s.llama_src) / "convert_hf_to_gguf.py", ec))
    return make_error(Code::kNotFound,
                      "llama.cpp's convert_hf_to_gguf.py is not in {}: run scripts/setup.sh (or set THAW_LLAMA_SRC "
                      "to a llama.cpp tree), or convert to GGUF yourself and pack the .gguf",
                      s.llama_src);
  s.tool = env("THAW_HF_TO_GGUF");
  if (s.tool.empty()) s.tool = (fs::path(THAW_SOURCE_DIR) / "tools" / "hf_to_gguf.py").string();
  if (!fs::is_regular_file(s.tool, ec))
    return make_error(Code::kNotFound, "{} not found: set THAW_HF_TO_GGUF to thaw's tools/hf_to_gguf.py", s.tool);
  s.python = env("THAW_PYTHON");
  if (s.python.empty()) {
    const fs::path venv = fs::path(THAW_SOURCE_DIR) / ".venv" / "bin" / "python";
    s.python = ::access(venv.c_str(), X_OK) == 0 ? venv.string() : "python3";
  }
  return s;
}

Status convert_hf_to_gguf(const std::string& dir, const std::string& out, std::string_view outtype) {
  THAW_ASSIGN_OR_RETURN(HfConvertSetup s, find_hf_converter());
  const std::string log_path = out + ".log";
  std::vector<std::string> args = {s.python, s.tool, "--llama-src", s.llama_src, dir, "--outtype",
                                   std::string(outtype), "--outfile", out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  fmt::print(stderr, "converting {} to GGUF ({}) with llama.cpp's convert_hf_to_gguf.py from {}\n", dir, outtype,
             s.llama_src);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, s.python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return make_error(Code::kNotFound, "cannot run the Python interpreter {}: {} (set THAW_PYTHON)", s.python,
                      std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(Code::kInvalidArgument, "converting {} to GGUF failed: {}", dir, explain_failure(log_path));
  fmt::print(stderr, "converted in {:.1f} s\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return Status::ok();
}

}  // namespace thaw::engine
