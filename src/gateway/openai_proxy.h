// The gateway's OpenAI-compatible routes: the model is named in the JSON body, not the path.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace thaw::gateway {

// The "model" of an OpenAI request body; kInvalidArgument when the body is not a JSON object or
// names no model (the message says so).
Result<std::string> openai_model(std::string_view body);
// The body with "model" set to `model` (a student answering for its teacher).
std::string with_model(std::string_view body, const std::string& model);

}  // namespace thaw::gateway
