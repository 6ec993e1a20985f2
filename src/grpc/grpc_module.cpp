#include "grpc/grpc_module.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

namespace thaw::grpc_front {
namespace {

using StartFn = decltype(&thaw_grpc_front_start);

// Loaded once and never unloaded: gRPC keeps threads of its own.
Result<StartFn> load_module() {
  static std::mutex mu;
  static StartFn start = nullptr;
  std::lock_guard lock(mu);
  if (start != nullptr) return start;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string path = (exe.parent_path() / "libthaw_grpc.so").string();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return make_error(Code::kNotFound, "gRPC is not available: cannot load {} ({}); build thaw with gRPC "
                      "(scripts/setup.sh installs libgrpc++-dev) or serve REST only", path, ::dlerror());
  start = reinterpret_cast<StartFn>(::dlsym(handle, "thaw_grpc_front_start"));
  if (start == nullptr) return make_error(Code::kNotFound, "{} has no thaw_grpc_front_start", path);
  return start;
}

}  // namespace

Result<std::unique_ptr<GrpcFront>> start_grpc(const GrpcOptions& options, http::Server& http) {
  auto start = load_module();
  if (!start.is_ok()) return start.status();
  RouteLocal route = [&http](http::Request request, http::LocalDone done, const http::LocalCallOptions& o) {
    return http.route_local(std::move(request), std::move(done), o);
  };
  std::string error;
  GrpcFront* front = (*start)(&options, &route, &error);
  if (front == nullptr) return make_error(Code::kUnavailable, "{}", error);
  return std::unique_ptr<GrpcFront>(front);
}

}  // namespace thaw::grpc_front
