#include "manager/proc_stat.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "common/unique_fd.h"
#include "manager/process.h"

namespace thaw::manager {

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return std::nullopt;
  std::string_view text(buf, static_cast<size_t>(n));
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 >= text.size()) return std::nullopt;
  std::string_view rest = text.substr(close + 2);
  ProcStat st;
  st.state = rest[0];
  // Field 22 (starttime) is the 20th after the state (field 3).
  for (int field = 3; field < 22; ++field) {
    size_t space = rest.find(' ');
    if (space == std::string_view::npos) return st;
    rest.remove_prefix(space + 1);
  }
  std::from_chars(rest.data(), rest.data() + rest.size(), st.start_ticks);
  return st;
}

bool process_running(pid_t pid, uint64_t start_ticks) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  auto st = read_proc_stat(pid);
  if (!st || st->state == 'Z' || st->state == 'X' || st->state == 'x') return false;
  return start_ticks == 0 || st->start_ticks == start_ticks;
}

Result<uint64_t> smaps_rollup_bytes(pid_t pid, std::string_view field) {
  if (pid <= 0) return make_error(Code::kInvalidArgument, "bad pid {}", pid);
  std::string path = "/proc/" + std::to_string(pid) + "/smaps_rollup";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ESRCH)
      return make_error(Code::kNotFound, "process {} does not exist", pid);
    return make_error(Code::kIo, "cannot open {}: {}", path, std::strerror(errno));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == ESRCH) return make_error(Code::kNotFound, "process {} has exited", pid);
      return make_error(Code::kIo, "reading {}: {}", path, std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.starts_with(field) || line.size() <= field.size() || line[field.size()] != ':') continue;
    std::string_view value = line.substr(field.size() + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    uint64_t kb = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), kb);
    if (ec != std::errc() || std::string_view(end, value.data() + value.size()) != " kB")
      return make_error(Code::kCorrupt, "{}: cannot parse '{}'", path, line);
    return kb * 1024;
  }
  // A zombie keeps its /proc entry but has no memory map left.
  return make_error(Code::kNotFound, "process {} has no memory map (it has exited)", pid);
}

Result<uint64_t> pss_bytes(pid_t pid) { return smaps_rollup_bytes(pid, "Pss"); }
Result<uint64_t> rss_bytes(pid_t pid) { return smaps_rollup_bytes(pid, "Rss"); }

}  // namespace thaw::manager
