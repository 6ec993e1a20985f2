#include "policy/gbm_model.h"

#include <xgboost/c_api.h>

#include <string>

namespace thaw::policy {
namespace {

Status xgb_error(const char* what) { return make_error(Code::kInternal, "xgboost {}: {}", what, XGBGetLastError()); }

struct DMatrix {
  DMatrixHandle h = nullptr;
  ~DMatrix() {
    if (h != nullptr) XGDMatrixFree(h);
  }
};

}  // namespace

struct GbmModel::Handles {
  BoosterHandle booster = nullptr;
  ~Handles() {
    if (booster != nullptr) XGBoosterFree(booster);
  }
};

GbmModel::GbmModel() : h_(std::make_unique<Handles>()) {}
GbmModel::~GbmModel() = default;
GbmModel::GbmModel(GbmModel&&) noexcept = default;
GbmModel& GbmModel::operator=(GbmModel&&) noexcept = default;

bool GbmModel::trained() const { return h_ && h_->booster != nullptr; }

Status GbmModel::train(const std::vector<float>& features, const std::vector<float>& labels, size_t cols,
                       const GbmParams& params) {
  if (cols == 0 || labels.empty() || features.size() != labels.size() * cols)
    return make_error(Code::kInvalidArgument, "gbm: {} features do not make {} rows of {}", features.size(),
                      labels.size(), cols);
  DMatrix train;
  if (XGDMatrixCreateFromMat_omp(features.data(), labels.size(), cols, std::nanf(""), &train.h, 1) != 0)
    return xgb_error("creating the training matrix");
  if (XGDMatrixSetFloatInfo(train.h, "label", labels.data(), labels.size()) != 0) return xgb_error("setting labels");
  auto fresh = std::make_unique<Handles>();
  if (XGBoosterCreate(&train.h, 1, &fresh->booster) != 0) return xgb_error("creating the booster");
  const std::string depth = std::to_string(params.max_depth);
  const std::string eta = std::to_string(params.learning_rate);
  const std::string seed = std::to_string(params.seed);
  const std::pair<const char*, const char*> settings[] = {
      {"objective", params.objective}, {"tree_method", "hist"}, {"nthread", "1"},
      {"max_depth", depth.c_str()},      {"eta", eta.c_str()},    {"seed", seed.c_str()},
      {"verbosity", "0"},
  };
  for (const auto& [k, v] : settings)
    if (XGBoosterSetParam(fresh->booster, k, v) != 0) return xgb_error("setting a parameter");
  for (int i = 0; i < params.trees; ++i)
    if (XGBoosterUpdateOneIter(fresh->booster, i, train.h) != 0) return xgb_error("training");
  h_ = std::move(fresh);
  return Status::ok();
}

Status GbmModel::predict_rows(const float* data, size_t rows, size_t cols, std::vector<float>& out) const {
  if (!trained()) return make_error(Code::kUnavailable, "gbm: no model trained yet");
  DMatrix m;
  if (XGDMatrixCreateFromMat_omp(data, rows, cols, std::nanf(""), &m.h, 1) != 0) return xgb_error("creating rows");
  bst_ulong len = 0;
  const float* res = nullptr;
  if (XGBoosterPredict(h_->booster, m.h, 0, 0, 0, &len, &res) != 0 || len != rows) return xgb_error("predicting");
  out.assign(res, res + len);
  return Status::ok();
}

Result<float> GbmModel::predict(const float* row, size_t cols) const {
  std::vector<float> out;
  THAW_TRY(predict_rows(row, 1, cols, out));
  return out[0];
}

}  // namespace thaw::policy
