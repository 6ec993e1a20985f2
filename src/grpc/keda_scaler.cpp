#include "grpc/keda_scaler.h"

#include <cmath>
#include <mutex>
#include <set>

#include <grpcpp/grpcpp.h>

#include "grpc/grpc_server.h"
#include "keda_scaler.grpc.pb.h"

namespace thaw::grpc_front {
namespace {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;
using ::grpc::Status;
using ::grpc::StatusCode;
using manager::DemandEvent;
using manager::ModelDemand;

Status to_grpc(const thaw::Status& s) {
  switch (s.code()) {
    case Code::kNotFound: return {StatusCode::NOT_FOUND, s.message()};
    case Code::kInvalidArgument: return {StatusCode::INVALID_ARGUMENT, s.message()};
    default: return {StatusCode::UNAVAILABLE, s.message()};
  }
}

// The model a ScaledObject scales on, from its trigger's metadata.
Status model_of(const externalscaler::ScaledObjectRef& ref, std::string* model) {
  auto it = ref.scalermetadata().find("model");
  if (it == ref.scalermetadata().end() || it->second.empty())
    return {StatusCode::INVALID_ARGUMENT, "ScaledObject '" + ref.namespace_() + "/" + ref.name() +
                                              "': its trigger's metadata has no `model`; set metadata.model to the "
                                              "thaw model it scales on"};
  *model = it->second;
  return Status::OK;
}

// One StreamIsActive call. The manager's events only record the latest answer and start a write
// when none is in flight, so a slow client costs the manager nothing: answers coalesce.
class ActiveStream final : public ::grpc::ServerWriteReactor<externalscaler::IsActiveResponse> {
 public:
  ActiveStream(std::string model, std::function<void(ActiveStream*)> done) : model_(std::move(model)), done_(std::move(done)) {}
  const std::string& model() const { return model_; }

  // The first answer: `snapshot`, or what an event pushed since. Until this, writing_ stands as
  // though a write were in flight, so the stream can neither write nor finish before it.
  void start(bool snapshot) {
    std::unique_lock lock(mu_);
    if (closing_) {
      writing_ = false;
      finishing_ = true;
      lock.unlock();
      Finish(Status::OK);
      return;
    }
    if (!pending_) pending_ = snapshot;
    take_pending();
    lock.unlock();
    StartWrite(&out_);
  }

  // Any thread, never blocks.
  void push(bool active) {
    std::unique_lock lock(mu_);
    if (finishing_) return;
    pending_ = active;
    if (writing_) return;
    writing_ = true;  // no Finish until this write is done, so the reactor outlives the call below
    take_pending();
    lock.unlock();
    StartWrite(&out_);
  }
  // Ends the stream (the server stops) once the latest answer is written.
  void close() {
    std::unique_lock lock(mu_);
    closing_ = true;
    if (writing_ || finishing_) return;
    finishing_ = true;
    lock.unlock();
    Finish(Status::OK);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (!ok || (closing_ && !pending_)) {
      writing_ = false;
      if (finishing_) return;
      finishing_ = true;
      lock.unlock();
      Finish(ok ? Status::OK : Status(StatusCode::CANCELLED, "the client went away"));
      return;
    }
    if (!pending_) {
      writing_ = false;
      return;
    }
    take_pending();
    lock.unlock();
    StartWrite(&out_);
  }
  void OnCancel() override { close(); }
  void OnDone() override {
    done_(this);
    delete this;
  }

 private:
  void take_pending() {
    out_.set_result(*pending_);
    pending_.reset();
  }

  const std::string model_;
  std::function<void(ActiveStream*)> done_;
  std::mutex mu_;
  std::optional<bool> pending_;
  bool writing_ = true, closing_ = false, finishing_ = false;  // see start()
  externalscaler::IsActiveResponse out_;
};

class ScalerService final : public externalscaler::ExternalScaler::CallbackService {
 public:
  explicit ScalerService(DemandSource source) : source_(std::move(source)) {
    subscription_ = source_.subscribe([this](const std::string& model, DemandEvent e) { on_event(model, e); });
  }
  ~ScalerService() override { source_.unsubscribe(subscription_); }

  // Ends every open stream so that the server's shutdown does not wait for them.
  void close_streams() {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (ActiveStream* s : streams_) s->close();
  }

  ServerUnaryReactor* IsActive(CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* in,
                               externalscaler::IsActiveResponse* out) override {
    ModelDemand d;
    Status s = lookup(*in, nullptr, &d);
    if (s.ok()) out->set_result(d.active());
    return finish(ctx, s);
  }

  ::grpc::ServerWriteReactor<externalscaler::IsActiveResponse>* StreamIsActive(
      CallbackServerContext*, const externalscaler::ScaledObjectRef* in) override {
    std::string model;
    ModelDemand d;
    Status s = lookup(*in, &model, &d);
    auto* stream = new ActiveStream(model, [this](ActiveStream* done) {
      std::lock_guard lock(mu_);
      streams_.erase(done);
    });
    if (!s.ok()) {
      stream->Finish(s);  // before start(): nothing else may finish it
      return stream;
    }
    {
      std::lock_guard lock(mu_);
      streams_.insert(stream);
      if (closed_) stream->close();
    }
    // Events reach the stream from here on; the state read after that is the first answer unless
    // an event already says newer. Not under mu_: events come with a model's mutex held.
    (void)lookup(*in, nullptr, &d);
    stream->start(d.active());
    return stream;
  }

  ServerUnaryReactor* GetMetricSpec(CallbackServerContext* ctx, const externalscaler::ScaledObjectRef* in,
                                    externalscaler::GetMetricSpecResponse* out) override {
    std::string model;
    ModelDemand d;
    Status s = lookup(*in, &model, &d);
    double target = d.concurrency;
    if (s.ok()) s = target_of(*in, &target);
    if (s.ok()) {
      auto* spec = out->add_metricspecs();
      spec->set_metricname(metric_name(model));
      spec->set_targetsizefloat(target);
      spec->set_targetsize(static_cast<int64_t>(std::ceil(target)));
    }
    return finish(ctx, s);
  }

  ServerUnaryReactor* GetMetrics(CallbackServerContext* ctx, const externalscaler::GetMetricsRequest* in,
                                 externalscaler::GetMetricsResponse* out) override {
    std::string model;
    ModelDemand d;
    Status s = lookup(in->scaledobjectref(), &model, &d);
    if (s.ok()) {
      // KEDA may prefix the name it was given (s0-...); there is one metric per model either way.
      const uint64_t demand = d.waiting + d.in_flight;
      auto* v = out->add_metricvalues();
      v->set_metricname(metric_name(model));
      v->set_metricvalue(static_cast<int64_t>(demand));
      v->set_metricvaluefloat(static_cast<double>(demand));
    }
    return finish(ctx, s);
  }

 private:
  static std::string metric_name(const std::string& model) { return "thaw-" + model + "-demand"; }

  static ServerUnaryReactor* finish(CallbackServerContext* ctx, const Status& s) {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(s);
    return reactor;
  }

  Status lookup(const externalscaler::ScaledObjectRef& ref, std::string* model_out, ModelDemand* d) {
    std::string model;
    if (Status s = model_of(ref, &model); !s.ok()) return s;
    auto r = source_.demand(model);
    if (!r.is_ok()) return to_grpc(r.status());
    *d = *r;
    if (model_out) *model_out = std::move(model);
    return Status::OK;
  }

  static Status target_of(const externalscaler::ScaledObjectRef& ref, double* target) {
    auto it = ref.scalermetadata().find("targetDemand");
    if (it == ref.scalermetadata().end()) return Status::OK;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v))
      return {StatusCode::INVALID_ARGUMENT,
              "scalerMetadata targetDemand '" + it->second + "' is not a positive number (requests per replica)"};
    *target = v;
    return Status::OK;
  }

  // On the manager's threads: push and return (push never blocks).
  void on_event(const std::string& model, DemandEvent e) {
    const bool active = e != DemandEvent::kFellToZero;
    std::lock_guard lock(mu_);
    for (ActiveStream* s : streams_)
      if (s->model() == model) s->push(active);
  }

  DemandSource source_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::set<ActiveStream*> streams_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<GrpcFront> start_scaler(const GrpcOptions& options, DemandSource source, std::string* error) {
  auto service = std::make_shared<ScalerService>(std::move(source));
  // ScaledObjectRefs are small; open streams end first so that the stop does not wait on them.
  return serve_service(options, service, 1 << 20, "the KEDA scaler", error, [service] { service->close_streams(); });
}

}  // namespace thaw::grpc_front
