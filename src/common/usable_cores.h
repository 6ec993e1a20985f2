// How many cores this process may run on: its CPU affinity, capped by its cgroup's CPU quota (v2
// `cpu.max` or v1 `cpu.cfs_quota_us`: a container's CPU limit, e.g. Kubernetes'). Threads sized by
// std::thread::hardware_concurrency(), the machine's cores, oversubscribe a pinned or limited
// process (llama.cpp's threads spin at barriers and slow every step then).
#pragma once

#include <optional>
#include <string_view>

namespace thaw {

// At least 1; counted at the first call (a process's affinity and cgroup seldom change).
unsigned usable_cores();
// The same, counted now.
unsigned count_usable_cores();

// The cores a cgroup `cpu.max` text allows ("QUOTA PERIOD" -> ceil(QUOTA / PERIOD)); nullopt for
// "max ...", or text that is not that.
std::optional<unsigned> cores_of_cpu_max(std::string_view text);

}  // namespace thaw
