// Routes requests by method and path pattern to handlers. A pattern is a path whose segments are
// literals or "{name}" captures: "/v2/models/{model}/versions/{version}/infer".
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/responder.h"

namespace thaw::http {

// Handlers return a response value. They should not throw; if one does anyway, dispatch() turns
// the exception into a 500 JSON error so the connection and the server keep working.
using Handler = std::function<Response(const Request&)>;
// An asynchronous handler returns at once and answers through the Responder, now or later, from
// any thread. `request` stays valid (and may be moved from) until the answer is complete.
using AsyncHandler = std::function<void(Request& request, Responder responder)>;

class Router {
 public:
  // Adds a route. Routes are tried in the order added; the first match wins.
  void add(std::string method, std::string_view pattern, Handler handler);
  void get(std::string_view pattern, Handler h) { add("GET", pattern, std::move(h)); }
  void post(std::string_view pattern, Handler h) { add("POST", pattern, std::move(h)); }
  void add_async(std::string method, std::string_view pattern, AsyncHandler handler);

  // Finds the route and answers through `responder`: synchronous handlers at once, asynchronous
  // ones whenever they do. Errors as for dispatch(). Never throws.
  void route(Request& request, const Responder& responder) const;

  // Fills request.params and calls the matching synchronous handler. No path match: 404; a path
  // match under another method only: 405 with an Allow header; an asynchronous route: 500 (use
  // route()). Never throws.
  Response dispatch(Request& request) const;

 private:
  struct Segment {
    std::string text;
    bool capture = false;
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    Handler handler;        // one of the two is set
    AsyncHandler async_handler;
  };
  // The matching route with request.params filled, or the error response.
  const Route* find(Request& request, Response* error) const;
  static bool match(const Route& route, const std::vector<std::string_view>& parts,
                    Request* request);

  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; an empty path or "/" gives {}.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace thaw::http
