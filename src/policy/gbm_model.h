// A gradient-boosted regression model (libxgboost's C API) behind a small value-returning
// interface: train on a dense feature matrix, predict rows. Single-threaded (nthread 1 everywhere).
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"

namespace thaw::policy {

struct GbmParams {
  const char* objective = "reg:squarederror";
  int trees = 30;
  int max_depth = 5;
  double learning_rate = 0.2;
  uint64_t seed = 1;
};

class GbmModel {
 public:
  GbmModel();
  ~GbmModel();
  GbmModel(GbmModel&&) noexcept;
  GbmModel& operator=(GbmModel&&) noexcept;

  // Trains a fresh model on rows x cols features (row-major) and labels; replaces any previous one.
  Status train(const std::vector<float>& features, const std::vector<float>& labels, size_t cols,
               const GbmParams& params);
  bool trained() const;
  // Predicts one row of `cols` features.
  Result<float> predict(const float* row, size_t cols) const;
  // Predicts `rows` rows at once into `out`.
  Status predict_rows(const float* data, size_t rows, size_t cols, std::vector<float>& out) const;

 private:
  struct Handles;
  std::unique_ptr<Handles> h_;
};

}  // namespace thaw::policy
