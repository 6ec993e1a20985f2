#include "protocol/openai_error.h"

#include <nlohmann/json.hpp>

namespace thaw::protocol {

nlohmann::json openai_error(int http_status, std::string_view message) {
  const char* type = http_status == 404   ? "not_found_error"
                     : http_status == 429 ? "rate_limit_error"
                     : http_status < 500  ? "invalid_request_error"
                                          : "server_error";
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
}

http::Response openai_error_response(int http_status, std::string_view message) {
  return http::Response::json(http_status, openai_error(http_status, message));
}

http::Response to_openai_error(http::Response response) {
  const auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string message;
  if (body.is_object() && body.contains("error")) {
    const auto& e = body["error"];
    if (e.is_object()) return response;  // already OpenAI's shape
    message = e.is_string() ? e.get<std::string>() : e.dump();
  } else {
    message = response.body;
  }
  http::Response out = openai_error_response(response.status, message);
  out.headers = std::move(response.headers);
  return out;
}

}  // namespace thaw::protocol
