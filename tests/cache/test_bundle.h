// Synthetic bundles for the cache's tests: random tensors cut into chunks of a chosen size, so two
// bundles made with the same seeds share those tensors' chunks.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bundle/bundle.h"
#include "cache/chunk_store.h"

namespace thaw::cache::testing {

// `tensors` random tensors of `per_tensor` bytes; tensor i is seeded with seed + i, or with
// seeds[i] when given (a tensor that keeps its seed keeps its chunks).
inline std::string make_bundle(const std::string& name, int tensors, uint64_t per_tensor, uint64_t seed,
                               uint64_t chunk_size, const std::vector<uint64_t>& seeds = {}) {
  std::vector<std::vector<uint64_t>> data(tensors);
  bundle::BundleContents c;
  c.name = name;
  for (int i = 0; i < tensors; ++i) {
    std::mt19937_64 rng(i < static_cast<int>(seeds.size()) ? seeds[i] : seed + i);
    data[i].resize(per_tensor / 8);
    for (auto& w : data[i]) w = rng();
    c.tensors.push_back({"t" + std::to_string(i),
                         DType::kU8,
                         {static_cast<int64_t>(per_tensor)},
                         std::as_bytes(std::span(data[i]))});
  }
  c.files.push_back({"config.json", "{}"});
  bundle::WriteOptions o;
  o.chunk_size = chunk_size;
  o.threads = 1;
  static int n = 0;
  std::filesystem::path p =
      std::filesystem::temp_directory_path() / fmt::format("thaw-test-bundle-{}-{}-{}.thaw", ::getpid(), name, n++);
  EXPECT_TRUE(bundle::write(p.string(), c, o).is_ok());
  auto bytes = read_whole_file(p.string());
  std::filesystem::remove(p);
  return *bytes;
}

}  // namespace thaw::cache::testing
