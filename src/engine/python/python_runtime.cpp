#include "engine/python/python_runtime.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;

bool executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p); }

bool holds_worker(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "thaw_worker" / "__main__.py", ec);
}

}  // namespace

Result<std::string> find_python(std::string_view configured) {
  std::string want(configured);
  if (want.empty())
    if (const char* v = std::getenv("THAW_PYTHON"); v != nullptr && *v != '\0') want = v;
  if (want.empty()) want = "python3";
  if (want.find('/') != std::string::npos) {
    if (executable(want)) return want;
    return make_error(Code::kNotFound, "the Python interpreter {} is not an executable file", want);
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::string_view rest(path);
    while (true) {
      const size_t colon = rest.find(':');
      const fs::path candidate = fs::path(std::string(rest.substr(0, colon))) / want;
      if (!rest.substr(0, colon).empty() && executable(candidate)) return candidate.string();
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return make_error(Code::kNotFound,
                    "no Python interpreter '{}' on PATH: set THAW_PYTHON or pass --backend-opt python=PATH",
                    want);
}

Result<std::string> find_worker_package() {
  std::vector<fs::path> tried;
  if (const char* v = std::getenv("THAW_PYTHON_LIB"); v != nullptr && *v != '\0') {
    if (holds_worker(v)) return std::string(v);
    return make_error(Code::kNotFound, "THAW_PYTHON_LIB={} holds no thaw_worker/__main__.py", v);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path prefix = exe.parent_path().parent_path();
    tried.push_back(prefix / "python");
    tried.push_back(prefix / "share" / "thaw" / "python");
  }
  tried.emplace_back(THAW_SOURCE_PYTHON_DIR);
  std::string list;
  for (const auto& dir : tried) {
    if (holds_worker(dir)) return dir.string();
    list += (list.empty() ? "" : ", ") + dir.string();
  }
  return make_error(Code::kNotFound, "the Python worker (thaw_worker) is in none of {}: set THAW_PYTHON_LIB",
                    list);
}

}  // namespace thaw::engine
