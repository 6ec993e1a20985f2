// Fuzzes request routing: path splitting, percent-decoding and pattern captures.
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/endpoint.h"
#include "http/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const thaw::http::Router router = [] {
    thaw::http::Router r;
    auto ok = [](const thaw::http::Request& req) {
      return thaw::http::Response::text(200, req.param("model") + req.param("version"));
    };
    r.get("/v2/models/{model}", ok);
    r.post("/v2/models/{model}/versions/{version}/infer", ok);
    r.get("/v2/health/ready", ok);
    return r;
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  thaw::http::Request req;
  req.method = size % 2 ? "GET" : "POST";
  req.path = text;
  auto res = router.dispatch(req);
  if (res.status != 200 && res.status != 400 && res.status != 404 && res.status != 405) __builtin_trap();
  (void)thaw::http::Endpoint::parse(text);
  return 0;
}
