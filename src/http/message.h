// Plain request/response values exchanged between the server and its handlers, so handlers and
// their tests need no Beast types.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace thaw::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; the first match wins.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);
// How many fields are named `name` (case-insensitive): a field that must appear once is refused twice.
size_t count_header(const Headers& headers, std::string_view name);

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: path plus optional "?query"
  std::string path;     // target without the query, not decoded
  std::string query;    // after '?', not decoded
  Headers headers;
  std::string body;
  // The client, as the server saw it: "203.0.113.7:50412", "[::1]:4000", "unix"; "" when unknown.
  std::string remote;
  // Path parameters captured by the router ("{name}" segments), percent-decoded.
  std::unordered_map<std::string, std::string> params;

  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }
  // A path parameter, or "" when the route has none by that name.
  const std::string& param(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  Headers headers;  // extra headers (Content-Type and Content-Length are set from the fields)
  std::string body;

  static Response json(int status, const nlohmann::json& body);
  // {"error": message}; the shape KServe v2 and Triton clients expect.
  static Response error(int status, std::string_view message);
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // Maps a Status code to its HTTP status and an error body.
  static Response from_status(const Status& status);
};

// HTTP status for an error code: kInvalidArgument 400, kNotFound 404, kResourceExhausted 413, ...
int http_status_for(Code code);

// Decodes %XX escapes; returns nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);
// Escapes every byte but RFC 3986's unreserved characters, so `text` is one path segment.
std::string percent_encode(std::string_view text);

}  // namespace thaw::http
