// Pack-time ONNX Runtime work: the bundle also carries the model in ORT's own format, which a
// worker maps and uses in place (no protobuf parse, no graph optimisation, no weight copy).
#pragma once

#include "bundle/pack.h"
#include "common/status.h"

namespace thaw::cli {

// True when this build can run ONNX Runtime at pack time.
bool can_add_ort_model();
// Adds file "graph.ort" (optimised once, here) to an ONNX bundle and records the ORT version in
// metadata["ort_version"]. A no-op for other backends.
Status add_ort_model(bundle::PackedModel& model);

}  // namespace thaw::cli
