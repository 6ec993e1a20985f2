// Named phase durations (open, index, read, decompress, ...) recorded in order, for reports and logs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.h"

namespace thaw {

class PhaseTimer {
 public:
  explicit PhaseTimer(const Clock& clock) : clock_(clock), last_(clock.now()), start_(last_) {}

  // Ends the current phase under `name` and starts the next one.
  void mark(std::string name) {
    Nanos t = clock_.now();
    phases_.emplace_back(std::move(name), t - last_);
    last_ = t;
  }
  // Adds a phase measured elsewhere (e.g. summed over threads).
  void add(std::string name, Nanos d) { phases_.emplace_back(std::move(name), d); }

  Nanos total() const { return last_ - start_; }
  const std::vector<std::pair<std::string, Nanos>>& phases() const { return phases_; }
  // {"open_ms": 0.1, ..., "total_ms": 12.3}
  nlohmann::json to_json() const;

 private:
  const Clock& clock_;
  Nanos last_;
  Nanos start_;
  std::vector<std::pair<std::string, Nanos>> phases_;
};

}  // namespace thaw
