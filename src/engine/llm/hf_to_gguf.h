// `thaw pack HF_DIR`: a Hugging Face model directory (config.json and safetensors weights) turned
// into GGUF by llama.cpp's own converter, convert_hf_to_gguf.py with the gguf-py of the same tree
// (the llama.cpp scripts/setup.sh builds thaw's runtime from), run offline through
// tools/hf_to_gguf.py by the project's Python.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace thaw::engine {

// A directory holding config.json and *.safetensors (or pytorch_model*.bin) weights.
bool is_hf_model_dir(const std::string& path);

struct HfConvertSetup {
  std::string python;     // interpreter: $THAW_PYTHON, else the source tree's .venv, else python3
  std::string tool;       // tools/hf_to_gguf.py: $THAW_HF_TO_GGUF, else the source tree's
  std::string llama_src;  // llama.cpp tree: $THAW_LLAMA_SRC, else the one this build links
};
// Where the converter comes from; kNotFound saying what is missing and how to get it.
Result<HfConvertSetup> find_hf_converter();

// Converts `dir` to the GGUF `out` of type `outtype` (f32, f16, bf16, q8_0). Prints one line per
// stage on stderr; the converter's own output goes to `out`.log. kInvalidArgument with the
// converter's reason (an architecture it does not support, a tokenizer it cannot name, missing
// Python modules) and its last lines.
Status convert_hf_to_gguf(const std::string& dir, const std::string& out, std::string_view outtype);

}  // namespace thaw::engine
