// Where load goes: an http:// URL split into the endpoint to connect to and the request path,
// whose "{model}" placeholder is replaced per arrival when the schedule names models.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "http/endpoint.h"

namespace thaw::loadgen {

struct Target {
  http::Endpoint endpoint;  // TCP host:port (port 80 when the URL names none)
  std::string host_header;  // "host:port" as written in the URL
  std::string path;         // "/..." including any query; "/" when the URL has no path
};

// Parses "http://host[:port][/path[?query]]"; "[v6addr]" hosts are accepted. https is refused
// (the load generator speaks plain HTTP/1.1 only).
Result<Target> parse_url(std::string_view url);

// True when `path` contains the "{model}" placeholder.
bool has_model_placeholder(std::string_view path);

// `path` with every "{model}" replaced by `model`.
std::string expand_model(std::string_view path, std::string_view model);

}  // namespace thaw::loadgen
