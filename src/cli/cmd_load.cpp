// `thaw load BUNDLE`: loads every tensor so it is ready to use and reports the phases.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "loader/loader.h"
#include "loader/page_cache.h"

namespace thaw::cli {

namespace {

struct LoadArgs {
  std::string bundle;
  std::string mode = "auto";
  int threads = 2;
  bool json = false;
  bool verify = false;
  bool no_touch = false;
  bool no_populate = false;
  bool no_willneed = false;
  bool no_hugepages = false;
  bool mlock = false;
  bool io_uring = false;
  bool evict = false;
  uint64_t block_mib = 8;
};

int exit_code_for(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kExitOk;
    case Code::kCorrupt: return kExitCorrupt;
    case Code::kNotFound: return kExitNotFound;
    case Code::kInvalidArgument: return kExitUsage;
    default: return kExitFailure;
  }
}

int run_load(const LoadArgs& a) {
  auto mode = loader::mode_from_name(a.mode);
  if (!mode) {
    fmt::print(stderr, "thaw load: unknown mode '{}' (mmap, read, zstd or auto)\n", a.mode);
    return kExitUsage;
  }
  if (a.threads < 1 || a.threads > 256) {
    fmt::print(stderr, "thaw load: --threads must be between 1 and 256\n");
    return kExitUsage;
  }
  if (a.block_mib < 1 || a.block_mib > 1024) {
    fmt::print(stderr, "thaw load: --block-mib must be between 1 and 1024\n");
    return kExitUsage;
  }
  double resident_before = -1;
  if (a.evict) {
    Status s = loader::evict(a.bundle);
    if (!s.is_ok()) {
      fmt::print(stderr, "thaw load: {}\n", s.to_string());
      return exit_code_for(s);
    }
  }
  if (auto r = loader::residency(a.bundle); r.is_ok()) resident_before = r->fraction();

  loader::LoadOptions o;
  o.mode = *mode;
  o.threads = a.threads;
  o.verify = a.verify;
  o.touch = !a.no_touch;
  o.populate = !a.no_populate;
  o.willneed = !a.no_willneed;
  o.hugepages = !a.no_hugepages;
  o.mlock = a.mlock;
  o.io_uring = a.io_uring;
  o.read_block = a.block_mib << 20;
  auto loaded = loader::load_file(a.bundle, o);
  if (!loaded.is_ok()) {
    fmt::print(stderr, "thaw load: {}\n", loaded.status().to_string());
    return exit_code_for(loaded.status());
  }
  const auto& lb = *loaded;
  const double seconds = to_seconds(lb.timings().total);
  const double bytes = static_cast<double>(lb.data().size());
  const double gbps = seconds > 0 ? bytes / seconds / 1e9 : 0.0;
  if (a.json) {
    nlohmann::json j;
    j["bundle"] = a.bundle;
    j["mode"] = std::string(loader::mode_name(lb.mode()));
    j["threads"] = lb.threads();
    j["io_uring"] = lb.io_uring();
    j["touched"] = o.touch;
    j["verified"] = o.verify;
    j["bytes"] = lb.data().size();
    j["tensors"] = lb.manifest().tensors.size();
    j["files"] = lb.manifest().files.size();
    j["compression"] = lb.manifest().compression == bundle::Compression::kNone ? "none" : "zstd";
    j["seconds"] = seconds;
    j["gb_per_s"] = gbps;
    if (resident_before >= 0) j["resident_before"] = resident_before;
    j["phases"] = lb.timings().to_json();
    fmt::print("{}\n", j.dump(2));
    return kExitOk;
  }
  fmt::print("loaded {}: {} tensors, {:.1f} MB in {:.3f} s ({:.2f} GB/s), mode {}{}, {} thread{}\n", a.bundle,
             lb.manifest().tensors.size(), bytes / 1e6, seconds, gbps, loader::mode_name(lb.mode()),
             lb.io_uring() ? " (io_uring)" : "", lb.threads(), lb.threads() == 1 ? "" : "s");
  if (resident_before >= 0) fmt::print("  page cache before load: {:.0f}% resident\n", resident_before * 100);
  for (const auto& [name, d] : lb.timings().phases) fmt::print("  {:<12} {:>10.2f} ms\n", name, to_ms(d));
  for (const auto& [name, d] : lb.timings().worker_time)
    fmt::print("  ({} summed over workers: {:.2f} ms)\n", name, to_ms(d));
  return kExitOk;
}

}  // namespace

void register_load(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "load",
      "Load every tensor of a bundle so it is ready to use (every page resident and touched) and report "
      "the time of each phase: open, index, map/read/decompress, touch, verify.\n"
      "Exit codes: 0 ok, 1 I/O or other failure, 2 bad arguments (or a mode the bundle cannot use), "
      "3 corrupt bundle, 4 bundle not found.");
  cmd->add_option("bundle", args->bundle, "The .thaw bundle to load")->required();
  cmd->add_option("--mode", args->mode,
                  "mmap: zero-copy view of an uncompressed bundle; read: parallel pread into one aligned "
                  "buffer; zstd: parallel decompression of a compressed bundle; auto: mmap or zstd")
      ->capture_default_str();
  cmd->add_option("--threads,-t", args->threads, "Worker threads for reading, decompressing, touching")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->add_flag("--verify", args->verify, "Check every chunk, tensor and file checksum after loading");
  cmd->add_flag("--no-touch", args->no_touch, "Skip touching every page (mmap loads are then lazy)");
  cmd->add_flag("--no-populate", args->no_populate,
                "mmap: skip MADV_POPULATE_READ; the touch pass (or first use) faults pages in");
  cmd->add_flag("--no-willneed", args->no_willneed, "mmap: skip MADV_WILLNEED; read: skip sequential hint");
  cmd->add_flag("--no-hugepages", args->no_hugepages, "Do not ask for transparent huge pages");
  cmd->add_flag("--mlock", args->mlock, "Pin the loaded bytes in RAM");
  cmd->add_flag("--io-uring", args->io_uring, "read: use one io_uring ring instead of pread threads");
  cmd->add_option("--block-mib", args->block_mib, "read: MiB per read request")->capture_default_str();
  cmd->add_flag("--evict", args->evict,
                "Drop the bundle from the page cache first (posix_fadvise DONTNEED) for a cold load");
  cmd->callback([args, exit_code] { *exit_code = run_load(*args); });
}

}  // namespace thaw::cli
