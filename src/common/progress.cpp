#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace thaw {

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total == 0 ? 1 : total), enabled_(enabled),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

bool ProgressBar::stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

void ProgressBar::advance(uint64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void ProgressBar::draw(bool final) {
  constexpr int kWidth = 30;
  double frac = static_cast<double>(done_ > total_ ? total_ : done_) / static_cast<double>(total_);
  int filled = static_cast<int>(frac * kWidth);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double mib = static_cast<double>(done_) / (1024.0 * 1024.0);
  std::fprintf(stderr, "\r%-12s [", label_.c_str());
  for (int i = 0; i < kWidth; ++i) std::fputc(i < filled ? '#' : '.', stderr);
  std::fprintf(stderr, "] %3.0f%%  %.1f MiB  %.0f MiB/s%s", frac * 100.0, mib,
               secs > 0 ? mib / secs : 0.0, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace thaw
