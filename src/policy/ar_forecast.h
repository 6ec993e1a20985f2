// A small time-series forecast of the next idle time: an AR(1) model on log idle times, fitted by
// least squares over a bounded window (ARIMA(1,0,0)). Used by the hybrid histogram policy when
// most idle times fall outside its histogram.
#pragma once

#include <cstddef>
#include <deque>

namespace thaw::policy {

class ArForecast {
 public:
  explicit ArForecast(size_t window = 32) : window_(window) {}
  void add(double idle_minutes);
  bool empty() const { return log_idle_.empty(); }
  // Forecast of the next idle time in minutes; with fewer than 3 points, the last value.
  double next_minutes() const;

 private:
  size_t window_;
  std::deque<double> log_idle_;
};

}  // namespace thaw::policy
