// `thaw limits`: measures the bandwidths a load is compared against on this machine.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/clock.h"
#include "loader/limits.h"

namespace thaw::cli {

namespace {

struct LimitsArgs {
  std::string file;
  int threads = 2;
  uint64_t memcpy_mib = 512;
  int repeats = 3;
  bool cold = false;
  bool json = false;
};

int run_limits(const LimitsArgs& a) {
  if (a.threads < 1 || a.threads > 256 || a.repeats < 1 || a.memcpy_mib < 1) {
    fmt::print(stderr, "thaw limits: --threads, --repeats and --memcpy-mib must be positive\n");
    return kExitUsage;
  }
  SteadyClock clock;
  nlohmann::json j;
  j["threads"] = a.threads;
  auto fail = [](const Status& s) {
    fmt::print(stderr, "thaw limits: {}\n", s.to_string());
    return s.code() == Code::kNotFound ? kExitNotFound : s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
  };
  auto mc = loader::memcpy_bandwidth(a.memcpy_mib << 20, a.threads, a.repeats, clock);
  if (!mc.is_ok()) return fail(mc.status());
  j["memcpy_gb_per_s"] = *mc / 1e9;
  if (!a.file.empty()) {
    j["file"] = a.file;
    auto hot = loader::page_cache_read_bandwidth(a.file, a.threads, 8 << 20, a.repeats, false, clock);
    if (!hot.is_ok()) return fail(hot.status());
    j["page_cache_read_gb_per_s"] = *hot / 1e9;
    auto fresh = loader::page_cache_read_bandwidth(a.file, a.threads, 8 << 20, a.repeats, true, clock);
    if (!fresh.is_ok()) return fail(fresh.status());
    j["page_cache_read_fresh_buffer_gb_per_s"] = *fresh / 1e9;
    if (a.cold) {
      auto direct = loader::storage_read_bandwidth(a.file, 8 << 20, true, clock);
      if (direct.is_ok()) j["storage_read_direct_gb_per_s"] = *direct / 1e9;
      else j["storage_read_direct_error"] = direct.status().to_string();
      auto buffered = loader::storage_read_bandwidth(a.file, 8 << 20, false, clock);
      if (!buffered.is_ok()) return fail(buffered.status());
      j["storage_read_buffered_gb_per_s"] = *buffered / 1e9;
    }
  }
  if (a.json) {
    fmt::print("{}\n", j.dump(2));
    return kExitOk;
  }
  for (const auto& [k, v] : j.items())
    if (v.is_number_float()) fmt::print("{:<40} {:8.2f}\n", k, v.get<double>());
  return kExitOk;
}

}  // namespace

void register_limits(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<LimitsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "limits",
      "Measure this machine's limits for loading weights: memcpy bandwidth, page-cache read() bandwidth "
      "(into a pre-faulted buffer and into a fresh one) with the given thread count, and with --cold the "
      "sequential storage read bandwidth (O_DIRECT, and buffered after eviction).\n"
      "Exit codes: 0 ok, 1 failure, 2 bad arguments, 4 file not found.");
  cmd->add_option("--file,-f", args->file, "File to read for the page-cache and storage limits");
  cmd->add_option("--threads,-t", args->threads, "Threads for memcpy and page-cache reads")->capture_default_str();
  cmd->add_option("--memcpy-mib", args->memcpy_mib, "MiB copied per memcpy measurement")->capture_default_str();
  cmd->add_option("--repeats", args->repeats, "Measurements per limit; the best is reported")->capture_default_str();
  cmd->add_flag("--cold", args->cold, "Also measure sequential reads from storage (evicts the file)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args, exit_code] { *exit_code = run_limits(*args); });
}

}  // namespace thaw::cli
