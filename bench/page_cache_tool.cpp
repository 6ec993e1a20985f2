// Page-cache control for the cold-start benchmarks, through thaw's loader functions.
//
// Usage: thaw_page_cache evict|residency FILE...
//   evict: drops each file's pages (fdatasync + posix_fadvise DONTNEED), then reports residency.
//   Prints one JSON line per file: {"file":..,"resident_bytes":..,"file_bytes":..,"fraction":..}
// Exit code 1 when a file cannot be read or evicted.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "loader/page_cache.h"

int main(int argc, char** argv) {
  const std::string op = argc > 1 ? argv[1] : "";
  if (argc < 3 || (op != "evict" && op != "residency")) {
    std::fprintf(stderr, "usage: thaw_page_cache evict|residency FILE...\n");
    return 2;
  }
  int rc = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string path = argv[i];
    if (op == "evict") {
      if (auto s = thaw::loader::evict(path); !s.is_ok()) {
        std::fprintf(stderr, "thaw_page_cache: %s\n", s.to_string().c_str());
        rc = 1;
        continue;
      }
    }
    auto r = thaw::loader::residency(path);
    if (!r.is_ok()) {
      std::fprintf(stderr, "thaw_page_cache: %s\n", r.status().to_string().c_str());
      rc = 1;
      continue;
    }
    nlohmann::json j = {{"file", path}, {"resident_bytes", r->resident_bytes}, {"file_bytes", r->file_bytes},
                        {"fraction", r->fraction()}};
    std::printf("%s\n", j.dump().c_str());
  }
  return rc;
}
