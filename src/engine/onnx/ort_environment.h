// The process's ONNX Runtime environment: loads the C API once and owns the OrtEnv that every
// session of the process shares (logging, default allocators). Create one per process at start-up
// and keep it alive longer than every OnnxBackend built on it.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

struct OrtApi;
struct OrtEnv;

namespace thaw::engine {

enum class OrtLogLevel { kVerbose = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };

class OrtEnvironment {
 public:
  // Fails with kUnsupported when the loaded libonnxruntime is older than the headers we built with.
  // Without `telemetry`, ORT's usage telemetry is switched off before the environment exists (by
  // setting ORT_DISABLE_TELEMETRY=1 unless the variable is already set): with it on, ORT 1.32
  // opens a SQLite store under ~/.cache and probes the OS at start-up, which slows the first
  // answer and fails on read-only home directories. Call at start-up, before other threads.
  static Result<std::unique_ptr<OrtEnvironment>> create(OrtLogLevel level = OrtLogLevel::kWarning,
                                                        bool telemetry = false);
  ~OrtEnvironment();
  OrtEnvironment(const OrtEnvironment&) = delete;
  OrtEnvironment& operator=(const OrtEnvironment&) = delete;

  const OrtApi& api() const { return *api_; }
  // The loaded library's version, e.g. "1.32.0". ORT-format models and graphs optimised at pack
  // time are tied to it: record it in the bundle and re-optimise when it changes.
  static std::string version();
  OrtEnv* env() const { return env_; }

 private:
  OrtEnvironment(const OrtApi* api, OrtEnv* env) : api_(api), env_(env) {}
  const OrtApi* api_;
  OrtEnv* env_;
};

}  // namespace thaw::engine
