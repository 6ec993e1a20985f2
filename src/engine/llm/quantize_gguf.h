// Quantising a GGUF model with llama.cpp's own quantizer (llama_model_quantize, in libllama), so
// `thaw pack --quantize q4_k_m` needs no extra binary: an F16/BF16/F32 GGUF in, a GGUF of the
// chosen type out, as llama.cpp's llama-quantize writes it.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace thaw::engine {

// The types `quantize` takes, lower case as llama-quantize spells them without case ("q4_k_m").
std::span<const std::string_view> gguf_quantize_types();

// Writes `out`, the model in `in` quantised to `type` (one of gguf_quantize_types()), with
// `threads` threads (0: every core this process may use). Draws a progress bar on stderr when it is a terminal.
// kInvalidArgument for an unknown type or an input llama.cpp cannot quantize (not a model GGUF, or
// already quantised: requantising loses quality, so it is refused), with llama.cpp's reason;
// kUnsupported in a build without llama.cpp.
Status quantize_gguf(const std::string& in, const std::string& out, std::string_view type, int threads);

}  // namespace thaw::engine
