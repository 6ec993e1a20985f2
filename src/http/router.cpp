#include "http/router.h"

#include <exception>

namespace thaw::http {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(i, end - i));
    i = end;
  }
  return parts;
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  Route route{std::move(method), {}, std::move(handler)};
  for (std::string_view part : split_path(pattern)) {
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}')
      route.segments.push_back({std::string(part.substr(1, part.size() - 2)), true});
    else
      route.segments.push_back({std::string(part), false});
  }
  routes_.push_back(std::move(route));
}

bool Router::match(const Route& route, const std::vector<std::string_view>& parts,
                   Request* request) {
  if (route.segments.size() != parts.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i)
    if (!route.segments[i].capture && route.segments[i].text != parts[i]) return false;
  if (request == nullptr) return true;
  request->params.clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!route.segments[i].capture) continue;
    auto decoded = percent_decode(parts[i]);
    if (!decoded) return false;
    request->params[route.segments[i].text] = std::move(*decoded);
  }
  return true;
}

Response Router::dispatch(Request& request) const {
  auto parts = split_path(request.path);
  std::string allowed;
  for (const Route& route : routes_) {
    if (!match(route, parts, nullptr)) continue;
    if (route.method != request.method &&
        !(request.method == "HEAD" && route.method == "GET")) {
      if (allowed.find(route.method) == std::string::npos)
        allowed += (allowed.empty() ? "" : ", ") + route.method;
      continue;
    }
    if (!match(route, parts, &request))
      return Response::error(400, "malformed percent-escape in the request path");
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      return Response::error(500, std::string("internal error: ") + e.what());
    } catch (...) {
      return Response::error(500, "internal error");
    }
  }
  if (!allowed.empty()) {
    Response r = Response::error(405, "method " + request.method + " not allowed on " + request.path);
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  return Response::error(404, "no route for " + request.method + " " + request.path);
}

}  // namespace thaw::http
