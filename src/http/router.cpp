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

void Router::add_async(std::string method, std::string_view pattern, AsyncHandler handler) {
  add(std::move(method), pattern, Handler());
  routes_.back().async_handler = std::move(handler);
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  Route route{std::move(method), {}, std::move(handler), {}};
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

const Router::Route* Router::find(Request& request, Response* error) const {
  auto parts = split_path(request.path);
  std::string allowed;
  for (const Route& route : routes_) {
    if (!match(route, parts, nullptr)) continue;
    if (route.method != request.method && !(request.method == "HEAD" && route.method == "GET")) {
      if (allowed.find(route.method) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + route.method;
      continue;
    }
    if (!match(route, parts, &request)) {
      *error = Response::error(400, "malformed percent-escape in the request path");
      return nullptr;
    }
    return &route;
  }
  if (!allowed.empty()) {
    *error = Response::error(405, "method " + request.method + " not allowed on " + request.path);
    error->headers.emplace_back("Allow", allowed);
    return nullptr;
  }
  *error = Response::error(404, "no route for " + request.method + " " + request.path);
  return nullptr;
}

namespace {
template <class Fn>
Response guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Response::error(500, std::string("internal error: ") + e.what());
  } catch (...) {
    return Response::error(500, "internal error");
  }
}
}  // namespace

Response Router::dispatch(Request& request) const {
  Response error;
  const Route* route = find(request, &error);
  if (route == nullptr) return error;
  if (!route->handler) return Response::error(500, "internal error: " + request.path + " is an asynchronous route");
  return guarded([&] { return route->handler(request); });
}

void Router::route(Request& request, const Responder& responder) const {
  Response error;
  const Route* route = find(request, &error);
  if (route == nullptr) {
    responder.send(std::move(error));
    return;
  }
  if (route->handler) {
    responder.send(guarded([&] { return route->handler(request); }));
    return;
  }
  try {
    route->async_handler(request, responder);
  } catch (const std::exception& e) {
    responder.send(Response::error(500, std::string("internal error: ") + e.what()));
  } catch (...) {
    responder.send(Response::error(500, "internal error"));
  }
}

}  // namespace thaw::http
