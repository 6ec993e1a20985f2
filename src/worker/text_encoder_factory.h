// Builds the worker's TextEncoder from a bundle's tokenizer.json (Hugging Face format) with the
// tokenizer module. Builds without a tokenizer get nullptr: the model then takes no text.
#pragma once

#include <memory>
#include <string_view>

#include "common/status.h"
#include "worker/text_input.h"

namespace thaw::worker {

Result<std::unique_ptr<TextEncoder>> make_text_encoder(std::string_view tokenizer_json);

}  // namespace thaw::worker
