// Minimal CSV line splitting for the trace readers (no quoted fields in the Azure traces).
#pragma once

#include <string_view>
#include <vector>

namespace thaw::sim {

inline void split_csv(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

}  // namespace thaw::sim
