#include "policy/ar_forecast.h"

#include <algorithm>
#include <cmath>

namespace thaw::policy {

void ArForecast::add(double idle_minutes) {
  log_idle_.push_back(std::log(std::max(idle_minutes, 1e-3)));
  if (log_idle_.size() > window_) log_idle_.pop_front();
}

double ArForecast::next_minutes() const {
  if (log_idle_.empty()) return 0.0;
  double last = log_idle_.back();
  if (log_idle_.size() < 3) return std::exp(last);
  // y[t] = c + phi * y[t-1], ordinary least squares.
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 1; i < log_idle_.size(); ++i) {
    double x = log_idle_[i - 1], y = log_idle_[i];
    n += 1; sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  double den = n * sxx - sx * sx;
  double phi = den > 1e-12 ? (n * sxy - sx * sy) / den : 0.0;
  phi = std::clamp(phi, -0.99, 0.99);  // keep the process stationary
  double c = (sy - phi * sx) / n;
  return std::exp(c + phi * last);
}

}  // namespace thaw::policy
