#include "grpc/grpc_front.h"

#include <mutex>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <nlohmann/json.hpp>

#include "grpc/grpc_server.h"
#include "grpc/infer_mapping.h"
#include "grpc/rest_mapping.h"
#include "inference.grpc.pb.h"

namespace thaw::grpc_front {
namespace {

using json = nlohmann::json;
using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;
using ::grpc::Status;

// One call in flight. A cancelled call cancels its REST request, as a client hanging up does.
class CallReactor final : public ServerUnaryReactor {
 public:
  void attach(std::shared_ptr<http::LocalCall> call) {
    std::unique_lock lock(mu_);
    if (!cancelled_) {
      call_ = std::move(call);
      return;
    }
    lock.unlock();
    if (call) call->cancel();
  }
  void OnCancel() override {
    std::shared_ptr<http::LocalCall> call;
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
      call = std::move(call_);
    }
    if (call) call->cancel();
  }
  void OnDone() override { delete this; }

 private:
  std::mutex mu_;
  bool cancelled_ = false;
  std::shared_ptr<http::LocalCall> call_;
};

// gRPC metadata takes keys of [0-9a-z_.-] and printable ASCII values; anything else is not sent.
bool valid_metadata(std::string_view key, std::string_view value) {
  for (char c : key)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
  for (char c : value)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  InferenceService(RouteLocal route, uint64_t max_message_bytes) : route_(std::move(route)) {
    call_options_.max_response_bytes = max_message_bytes;
  }

  ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                 inference::ServerLiveResponse* out) override {
    return forward(ctx, rest_get("/v2/health/live"), [out](const http::Response& r) {
      out->set_live(r.status == 200);
      return Status::OK;
    }, /*any_status=*/true);
  }

  ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                  inference::ServerReadyResponse* out) override {
    return forward(ctx, rest_get("/v2/health/ready"), [out](const http::Response& r) {
      out->set_ready(r.status == 200);
      return Status::OK;
    }, true);
  }

  ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inference::ModelReadyRequest* in,
                                 inference::ModelReadyResponse* out) override {
    // An unknown model or version is not ready, as Triton answers; other errors stay errors.
    return forward(ctx, rest_get(model_path(in->name(), in->version()) + "/ready"), [out](const http::Response& r) {
      if (r.status == 200 || r.status == 404 || r.status == 503) {
        out->set_ready(r.status == 200);
        return Status::OK;
      }
      return status_of(r);
    }, true);
  }

  ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                     inference::ServerMetadataResponse* out) override {
    return forward_json(ctx, rest_get("/v2"), [out](const json& j) { return to_server_metadata(j, out); });
  }

  ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx, const inference::ModelMetadataRequest* in,
                                    inference::ModelMetadataResponse* out) override {
    return forward_json(ctx, rest_get(model_path(in->name(), in->version())),
                        [out](const json& j) { return to_model_metadata(j, out); });
  }

  ServerUnaryReactor* ModelInfer(CallbackServerContext* ctx, const inference::ModelInferRequest* in,
                                 inference::ModelInferResponse* out) override {
    http::Request request;
    if (Status s = to_rest_infer(*in, &request); !s.ok()) return finish_now(ctx, s);
    return forward(ctx, std::move(request), [out](const http::Response& r) { return from_rest_infer(r, out); });
  }

  ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inference::ModelConfigRequest* in,
                                  inference::ModelConfigResponse* out) override {
    return forward(ctx, rest_get(model_path(in->name(), in->version()) + "/config"),
                   [out](const http::Response& r) { return to_model_config(r.body, out->mutable_config()); });
  }

  ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx, const inference::ModelStatisticsRequest* in,
                                      inference::ModelStatisticsResponse* out) override {
    if (in->name().empty() && !in->version().empty())
      return finish_now(ctx, Status(::grpc::StatusCode::INVALID_ARGUMENT, "a version needs a model name"));
    std::string path = in->name().empty() ? "/v2/models/stats" : model_path(in->name(), in->version()) + "/stats";
    return forward_json(ctx, rest_get(std::move(path)), [out](const json& j) { return to_statistics(j, out); });
  }

  ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx, const inference::RepositoryIndexRequest* in,
                                      inference::RepositoryIndexResponse* out) override {
    if (!in->repository_name().empty()) return finish_now(ctx, unknown_repository(in->repository_name()));
    std::string body = in->ready() ? R"({"ready":true})" : "{}";
    return forward_json(ctx, rest_post("/v2/repository/index", std::move(body)),
                        [out](const json& j) { return to_index(j, out); });
  }

  ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* in,
                                          inference::RepositoryModelLoadResponse*) override {
    if (!in->repository_name().empty()) return finish_now(ctx, unknown_repository(in->repository_name()));
    return repository_action(ctx, in->model_name(), "load", load_body(in->parameters()));
  }

  ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                            const inference::RepositoryModelUnloadRequest* in,
                                            inference::RepositoryModelUnloadResponse*) override {
    if (!in->repository_name().empty()) return finish_now(ctx, unknown_repository(in->repository_name()));
    return repository_action(ctx, in->model_name(), "unload", load_body(in->parameters()));
  }

 private:
  static Status unknown_repository(const std::string& name) {
    return {::grpc::StatusCode::NOT_FOUND,
            "no repository '" + name + "'; thaw serves one repository: leave repository_name empty"};
  }

  ServerUnaryReactor* repository_action(CallbackServerContext* ctx, const std::string& model, const char* action,
                                        std::string body) {
    std::string path = "/v2/repository/models/" + model_path(model, "").substr(std::string("/v2/models/").size()) +
                       "/" + action;
    return forward(ctx, rest_post(std::move(path), std::move(body)), [](const http::Response&) { return Status::OK; });
  }

  static ServerUnaryReactor* finish_now(CallbackServerContext* ctx, const Status& s) {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(s);
    return reactor;
  }

  template <class Fill>
  ServerUnaryReactor* forward_json(CallbackServerContext* ctx, http::Request request, Fill fill) {
    return forward(ctx, std::move(request), [fill = std::move(fill)](const http::Response& r) {
      json j;
      if (Status s = parse_json(r, &j); !s.ok()) return s;
      return fill(j);
    });
  }

  // Sends `request` through the REST routes; `fill` turns a 2xx answer (any answer with
  // `any_status`) into the reply, other answers become their gRPC status.
  template <class Fill>
  ServerUnaryReactor* forward(CallbackServerContext* ctx, http::Request request, Fill fill, bool any_status = false) {
    for (const auto& [key, value] : ctx->client_metadata()) {
      std::string_view k(key.data(), key.size());
      // Only what routes read: the tier, credentials, tracing; never gRPC's own or binary ones.
      if ((k == "authorization" || k.starts_with("x-")) && !k.ends_with("-bin"))
        request.headers.emplace_back(std::string(k), std::string(value.data(), value.size()));
    }
    auto* reactor = new CallReactor;
    auto call = route_(std::move(request),
        [reactor, ctx, fill = std::move(fill), any_status](http::Response r) {
          for (const auto& [name, value] : r.headers) {
            std::string key = name;
            for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if ((key.starts_with("x-") || key == "retry-after") && valid_metadata(key, value))
              ctx->AddInitialMetadata(key, value);
          }
          const bool ok = r.status >= 200 && r.status < 300;
          reactor->Finish(ok || any_status ? fill(r) : status_of(r));
        },
        call_options_);
    if (call) reactor->attach(std::move(call));
    return reactor;
  }

  RouteLocal route_;
  http::LocalCallOptions call_options_;
};

}  // namespace

std::unique_ptr<GrpcFront> start_front(const GrpcOptions& options, RouteLocal route, std::string* error) {
  ::grpc::EnableDefaultHealthCheckService(true);
  return serve_service(options, std::make_shared<InferenceService>(std::move(route), options.max_message_bytes),
                       options.max_message_bytes, "gRPC", error);
}

}  // namespace thaw::grpc_front
