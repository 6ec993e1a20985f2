#include "grpc/grpc_module.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

namespace thaw::grpc_front {
namespace {

// Loaded once and never unloaded: gRPC keeps threads of its own.
Result<void*> load_symbol(const char* name) {
  static std::mutex mu;
  static void* handle = nullptr;
  std::lock_guard lock(mu);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string path = (exe.parent_path() / "libthaw_grpc.so").string();
  if (handle == nullptr) handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return make_error(Code::kNotFound, "gRPC is not available: cannot load {} ({}); build thaw with gRPC "
                      "(scripts/setup.sh installs libgrpc++-dev) or serve REST only", path, ::dlerror());
  void* symbol = ::dlsym(handle, name);
  if (symbol == nullptr) return make_error(Code::kNotFound, "{} has no {}", path, name);
  return symbol;
}

}  // namespace

Result<std::unique_ptr<GrpcFront>> start_grpc(const GrpcOptions& options, http::Server& http) {
  auto symbol = load_symbol("thaw_grpc_front_start");
  if (!symbol.is_ok()) return symbol.status();
  auto start = reinterpret_cast<decltype(&thaw_grpc_front_start)>(*symbol);
  RouteLocal route = [&http](http::Request request, http::LocalDone done, const http::LocalCallOptions& o) {
    return http.route_local(std::move(request), std::move(done), o);
  };
  std::string error;
  GrpcFront* front = start(&options, &route, &error);
  if (front == nullptr) return make_error(Code::kUnavailable, "{}", error);
  return std::unique_ptr<GrpcFront>(front);
}

Result<std::unique_ptr<GrpcFront>> start_keda_scaler(const GrpcOptions& options, DemandSource source) {
  auto symbol = load_symbol("thaw_keda_scaler_start");
  if (!symbol.is_ok()) return symbol.status();
  auto start = reinterpret_cast<decltype(&thaw_keda_scaler_start)>(*symbol);
  std::string error;
  GrpcFront* scaler = start(&options, &source, &error);
  if (scaler == nullptr) return make_error(Code::kUnavailable, "{}", error);
  return std::unique_ptr<GrpcFront>(scaler);
}

}  // namespace thaw::grpc_front
