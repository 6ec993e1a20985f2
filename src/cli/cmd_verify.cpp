// `thaw verify`: reads every byte of a bundle and checks every checksum.
#include <chrono>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "bundle/bundle.h"
#include "cli/bundle_cli.h"
#include "common/progress.h"

namespace thaw::cli {

namespace {

struct VerifyArgs {
  std::string bundle;
  bool quiet = false;
};

int run_verify(const VerifyArgs& a) {
  auto r = bundle::Reader::open(a.bundle);
  if (!r.is_ok()) {
    fmt::print(stderr, "thaw verify: {}\n", r.status().to_string());
    return bundle_exit_code(r.status());
  }
  const auto& m = r->manifest();
  const auto t0 = std::chrono::steady_clock::now();
  Status s;
  const bool show = ProgressBar::stderr_is_tty() && !a.quiet;
  {
    ProgressBar bar("verify", m.data_length, show);
    s = r->verify([&bar](uint64_t n) { bar.advance(n); });
    if (s.is_ok()) bar.finish();
  }
  if (!s.is_ok()) {
    fmt::print(stderr, "{}thaw verify: {}: {}\n", show ? "\n" : "", a.bundle, s.to_string());
    return s.code() == Code::kIo ? kExitFailure : kExitCorrupt;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet)
    fmt::print("ok: {} tensors, {} files, {} chunks, {} checked in {:.2f} s\n", m.tensors.size(), m.files.size(),
               m.chunks.size(), human_bytes(m.data_length), secs);
  return kExitOk;
}

}  // namespace

void register_verify(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check a bundle completely: header and manifest, then every chunk's content hash and every tensor's and "
      "file's xxh3-64 checksum (decompressing as needed). The first mismatch is reported by name.\n"
      "Exit codes: 0 ok, 1 I/O error, 3 corrupt or unsupported bundle, 4 not found.");
  cmd->add_option("BUNDLE", a->bundle, "The .thaw file")->required();
  cmd->add_flag("-q,--quiet", a->quiet, "Print nothing on success and no progress bar");
  cmd->callback([a, exit_code] { *exit_code = run_verify(*a); });
}

}  // namespace thaw::cli
