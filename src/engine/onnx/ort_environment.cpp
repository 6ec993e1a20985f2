#include "engine/onnx/ort_environment.h"

#include <cstdlib>

#include <onnxruntime_c_api.h>

#include "engine/onnx/ort_status.h"

namespace thaw::engine {

Result<std::unique_ptr<OrtEnvironment>> OrtEnvironment::create(OrtLogLevel level, bool telemetry) {
  if (!telemetry) ::setenv("ORT_DISABLE_TELEMETRY", "1", /*overwrite=*/0);
  const OrtApiBase* base = OrtGetApiBase();
  const OrtApi* api = base == nullptr ? nullptr : base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    return make_error(Code::kUnsupported,
                      "libonnxruntime {} does not provide C API version {} (library too old)",
                      base == nullptr ? "?" : base->GetVersionString(), ORT_API_VERSION);
  }
  OrtEnv* env = nullptr;
  THAW_ORT_TRY(*api, api->CreateEnv(static_cast<OrtLoggingLevel>(level), "thaw", &env),
               "creating the ONNX Runtime environment");
  if (!telemetry) {
    OrtStatus* st = api->DisableTelemetryEvents(env);
    if (st != nullptr) api->ReleaseStatus(st);  // best effort: the variable already disabled it
  }
  return std::unique_ptr<OrtEnvironment>(new OrtEnvironment(api, env));
}

std::string OrtEnvironment::version() {
  const OrtApiBase* base = OrtGetApiBase();
  return base == nullptr ? std::string() : std::string(base->GetVersionString());
}

OrtEnvironment::~OrtEnvironment() {
  if (env_ != nullptr) api_->ReleaseEnv(env_);
}

}  // namespace thaw::engine
