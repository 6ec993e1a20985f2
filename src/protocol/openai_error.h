// The error body of the OpenAI-compatible routes, {"error": {"message", "type", "param", "code"}},
// which OpenAI clients read; shared by the worker that answers them and the gateway in front.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "http/message.h"

namespace thaw::protocol {

// The body for an HTTP status: 404 not_found_error, 429 rate_limit_error, other 4xx
// invalid_request_error, 5xx server_error.
nlohmann::json openai_error(int http_status, std::string_view message);
http::Response openai_error_response(int http_status, std::string_view message);
// An error response in another shape ({"error": "text"}, or a text body) given the OpenAI shape,
// its status and headers kept; one already in the OpenAI shape is returned as it is.
http::Response to_openai_error(http::Response response);

}  // namespace thaw::protocol
