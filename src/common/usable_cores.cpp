#include "common/usable_cores.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace thaw {

std::optional<unsigned> cores_of_cpu_max(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = text.substr(0, space), period_text = text.substr(space + 1);
  uint64_t quota = 0, period = 0;
  auto parse = [](std::string_view s, uint64_t& out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
  };
  if (!parse(quota_text, quota) || !parse(period_text, period) || quota == 0 || period == 0) return std::nullopt;
  return static_cast<unsigned>(std::max<uint64_t>(1, (quota + period - 1) / period));
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream text;
  if (f) text << f.rdbuf();
  return text.str();
}

// The CPU quota of this process's cgroup: v2 (`0::/PATH`, PATH/cpu.max) or v1 (the `cpu` controller's
// cpu.cfs_quota_us and cpu.cfs_period_us; a quota of -1 is none).
std::optional<unsigned> cgroup_cores() {
  std::ifstream self("/proc/self/cgroup");
  std::string line, v2_path, v1_path;
  while (std::getline(self, line)) {
    if (line.starts_with("0::")) v2_path = line.substr(3);
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::stringstream controllers(line.substr(a + 1, b - a - 1));
    for (std::string c; std::getline(controllers, c, ',');)
      if (c == "cpu") v1_path = line.substr(b + 1);
  }
  for (const std::string& dir : {"/sys/fs/cgroup" + v2_path, std::string("/sys/fs/cgroup")}) {
    const std::string text = read_text(dir + (dir.ends_with('/') ? "" : "/") + "cpu.max");
    if (!text.empty()) return cores_of_cpu_max(text);
  }
  for (const std::string& dir : {"/sys/fs/cgroup/cpu" + v1_path, std::string("/sys/fs/cgroup/cpu")}) {
    const std::string base = dir + (dir.ends_with('/') ? "" : "/");
    std::string quota = read_text(base + "cpu.cfs_quota_us"), period = read_text(base + "cpu.cfs_period_us");
    if (quota.empty() || period.empty()) continue;
    while (!quota.empty() && quota.back() == '\n') quota.pop_back();
    return cores_of_cpu_max(quota + " " + period);
  }
  return std::nullopt;
}

}  // namespace

unsigned count_usable_cores() {
  unsigned n = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) n = std::max(1, CPU_COUNT(&set));
  if (auto quota = cgroup_cores()) n = std::min(n, *quota);
  return n;
}

unsigned usable_cores() {
  static const unsigned cores = count_usable_cores();
  return cores;
}

}  // namespace thaw
