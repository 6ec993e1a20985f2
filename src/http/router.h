// Routes requests by method and path pattern to handlers. A pattern is a path whose segments are
// literals or "{name}" captures: "/v2/models/{model}/versions/{version}/infer".
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace thaw::http {

// Handlers return a response value. They should not throw; if one does anyway, dispatch() turns
// the exception into a 500 JSON error so the connection and the server keep working.
using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  // Adds a route. Routes are tried in the order added; the first match wins.
  void add(std::string method, std::string_view pattern, Handler handler);
  void get(std::string_view pattern, Handler h) { add("GET", pattern, std::move(h)); }
  void post(std::string_view pattern, Handler h) { add("POST", pattern, std::move(h)); }

  // Fills request.params and calls the matching handler. No path match: 404; a path match under
  // another method only: 405 with an Allow header. Never throws.
  Response dispatch(Request& request) const;

 private:
  struct Segment {
    std::string text;
    bool capture = false;
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    Handler handler;
  };
  static bool match(const Route& route, const std::vector<std::string_view>& parts,
                    Request* request);

  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; an empty path or "/" gives {}.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace thaw::http
