// Writes a synthetic .thaw bundle for the cache's tests and benchmark: `tensors` tensors of
// pseudo-random bytes totalling about `megabytes`. Tensor i's bytes come from seed i, except the
// first `changed` tensors, which use `seed_base + i`: two bundles made with different seed_base
// share every chunk of the unchanged tensors.
//   cache_make_bundle OUT NAME VERSION MEGABYTES TENSORS CHANGED SEED_BASE [zstd]
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bundle/bundle.h"

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s OUT NAME VERSION MEGABYTES TENSORS CHANGED SEED_BASE [zstd]\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  const uint64_t total = std::stoull(argv[4]) << 20;
  const int tensors = std::stoi(argv[5]);
  const int changed = std::stoi(argv[6]);
  const uint64_t seed_base = std::stoull(argv[7]);
  const bool zstd = argc > 8 && std::string(argv[8]) == "zstd";
  if (tensors <= 0 || total == 0) return 2;
  const uint64_t per = (total / tensors) / 8 * 8;
  std::vector<std::vector<uint64_t>> data(tensors);
  thaw::bundle::BundleContents c;
  c.name = argv[2];
  c.version = argv[3];
  c.backend = "onnx";
  for (int i = 0; i < tensors; ++i) {
    std::mt19937_64 rng(i < changed ? seed_base + i : static_cast<uint64_t>(i));
    data[i].resize(per / 8);
    // Compressible when zstd is asked for: only the low byte of each word varies.
    for (auto& w : data[i]) w = zstd ? (rng() & 0xff) : rng();
    c.tensors.push_back({"t" + std::to_string(i), thaw::DType::kU8, {static_cast<int64_t>(per)},
                         std::as_bytes(std::span(data[i]))});
  }
  c.files.push_back({"config.json", "{\"synthetic\": true}"});
  thaw::bundle::WriteOptions o;
  o.compression = zstd ? thaw::bundle::Compression::kZstd : thaw::bundle::Compression::kNone;
  o.byte_shuffle = false;
  thaw::Status s = thaw::bundle::write(out, c, o);
  if (!s.is_ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  return 0;
}
