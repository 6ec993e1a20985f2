// Simulation results as JSON and CSV, and parallel runs of many policy configurations.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/simulator.h"

namespace thaw::sim {

nlohmann::json to_json(const SimResult& r, bool with_per_app);
std::string csv_header();
std::string csv_row(const SimResult& r);

// Runs each spec on its own fresh policy, `threads` at a time (each run is single-threaded and
// owns its policy; the trace is shared read-only). Results come back in spec order.
// `plan_model` replays with simulate_plan_model() instead of the manager.
std::vector<Result<SimResult>> run_specs(const Trace& trace, const std::vector<std::string>& specs,
                                         const SimOptions& opts, int threads, bool plan_model = false);

}  // namespace thaw::sim
