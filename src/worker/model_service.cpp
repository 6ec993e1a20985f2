#include "worker/model_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "http/content_coding.h"

namespace thaw::worker {
namespace {

using json = nlohmann::json;

std::string shape_text(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

json tensor_specs(const std::vector<engine::TensorSpec>& specs) {
  json out = json::array();
  for (const auto& s : specs)
    out.push_back({{"name", s.name}, {"datatype", dtype_name(s.dtype)}, {"shape", s.shape}});
  return out;
}

std::string names(const std::vector<engine::TensorSpec>& specs) {
  std::string s;
  for (const auto& spec : specs) s += (s.empty() ? "" : ", ") + spec.name;
  return s;
}

// A zero-filled input for each declared input, dynamic dimensions set to 1.
std::vector<OwnedTensor> synthesise_inputs(const engine::ModelSignature& sig) {
  std::vector<OwnedTensor> out;
  for (const auto& spec : sig.inputs) {
    OwnedTensor t{spec.name, spec.dtype, spec.shape, {}};
    int64_t n = 1;
    for (auto& d : t.shape) {
      if (d < 0) d = 1;
      n *= d;
    }
    t.data.assign(static_cast<size_t>(n) * dtype_size(spec.dtype), std::byte{0});
    // Token models: a mask of ones attends to the single position.
    if (spec.name == "attention_mask") {
      for (size_t i = 0; i < t.data.size(); i += dtype_size(spec.dtype)) t.data[i] = std::byte{1};
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<engine::InputTensor> views(const std::vector<OwnedTensor>& tensors) {
  std::vector<engine::InputTensor> v;
  for (const auto& t : tensors) v.push_back({t.name, t.dtype, t.shape, t.data});
  return v;
}

}  // namespace

ModelService::ModelService(LoadedModel model, ServiceOptions options, const Clock& clock,
                           ColdStartTimeline* timeline)
    : model_(std::move(model)), options_(std::move(options)), clock_(clock), timeline_(timeline) {
  if (options_.work.max_positions == 0) options_.work.max_positions = model_.max_positions;
}

bool ModelService::accepts_text() const {
  return model_.text_encoder != nullptr && takes_token_inputs(model_.backend->signature());
}

bool ModelService::serves(const std::string& model, const std::string& version) const {
  return model == model_.name && (version.empty() || version == model_.version);
}

json ModelService::metadata() const {
  const auto& sig = model_.backend->signature();
  json inputs = tensor_specs(sig.inputs);
  json j = {{"name", model_.name},
            {"versions", {model_.version}},
            {"platform", model_.platform},
            {"inputs", inputs},
            {"outputs", tensor_specs(sig.outputs)}};
  if (accepts_text()) {
    // Raw text may replace the token inputs; advertised beside them.
    j["parameters"] = {{"text_input", {{"name", options_.text_input}, {"datatype", "BYTES"}, {"shape", {-1}}}}};
  }
  return j;
}

Status ModelService::warm_up(int passes) {
  if (engine::Generator* gen = generator()) {
    for (int pass = 0; pass < passes; ++pass) {
      THAW_TRY(gen->warm_up());
      warmup_runs_++;
    }
    return Status::ok();
  }
  std::vector<std::vector<OwnedTensor>> requests;
  if (!model_.warmup.empty()) {
    requests = model_.warmup;
  } else if (accepts_text()) {
    std::string text[] = {"thaw warms the model up before it reports ready"};
    THAW_ASSIGN_OR_RETURN(auto tokens, tokenize_batch(*model_.text_encoder, text, model_.max_text_tokens,
                                                      model_.backend->signature()));
    requests.push_back(std::move(tokens));
  } else {
    requests.push_back(synthesise_inputs(model_.backend->signature()));
  }
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t i = 0; i < requests.size(); ++i) {
      auto inputs = views(requests[i]);
      auto r = model_.backend->infer(inputs, {});
      if (!r.is_ok()) return r.status().with_context(fmt::format("warm-up request {}", i));
      warmup_runs_++;
    }
  }
  return Status::ok();
}

Status ModelService::validate(std::span<const engine::InputTensor> inputs) const {
  const auto& sig = model_.backend->signature();
  for (const auto& in : inputs) {
    auto spec = std::find_if(sig.inputs.begin(), sig.inputs.end(), [&](auto& s) { return s.name == in.name; });
    if (spec == sig.inputs.end())
      return make_error(Code::kInvalidArgument, "unknown input '{}'; the model takes: {}{}", in.name,
                        names(sig.inputs), accepts_text() ? " (or BYTES '" + options_.text_input + "')" : "");
    if (spec->dtype != in.dtype)
      return make_error(Code::kInvalidArgument, "input '{}' has datatype {}, the model expects {}", in.name,
                        dtype_name(in.dtype), dtype_name(spec->dtype));
    bool shape_ok = spec->shape.size() == in.shape.size();
    for (size_t d = 0; shape_ok && d < in.shape.size(); ++d)
      shape_ok = spec->shape[d] < 0 || spec->shape[d] == in.shape[d];
    if (!shape_ok)
      return make_error(Code::kInvalidArgument, "input '{}' has shape {}, the model expects {}", in.name,
                        shape_text(in.shape), shape_text(spec->shape));
  }
  for (const auto& spec : sig.inputs) {
    bool present = std::any_of(inputs.begin(), inputs.end(), [&](auto& in) { return in.name == spec.name; });
    if (!present)
      return make_error(Code::kInvalidArgument, "missing input '{}'; the model takes: {}{}", spec.name,
                        names(sig.inputs), accepts_text() ? " (or BYTES '" + options_.text_input + "')" : "");
  }
  return Status::ok();
}

http::Response ModelService::infer(const http::Request& request) {
  Nanos start = clock_.now();
  http::InferenceStats::Phases phases;
  Size size{request.body.size(), 0};
  Result<http::Response> r = infer_or_error(request, phases, size);
  http::Response response = r.is_ok() ? std::move(r).value() : http::Response::from_status(r.status());
  if (response.status < 400) ok_++;
  else if (response.status < 500) client_errors_++;
  else server_errors_++;
  const Nanos took = clock_.now() - start;
  latency_.observe(to_seconds(took));
  if (response.status < 400)
    stats_.success(static_cast<uint64_t>(took.count()), phases);
  else
    stats_.failure(static_cast<uint64_t>(took.count()));
  // A large request's buffers (body, JSON, tensors, answer) are freed by now, but glibc keeps the
  // pages: give them back, so one large request does not raise the worker's RSS for good.
  if (is_large_request(size.body_bytes, size.tokens, response.body.size(), options_.work)) return_free_memory();
  if (response.status < 400 && !first_done_.exchange(true)) {
    if (timeline_) timeline_->mark("first_request");
    if (first_response_) first_response_();
  }
  return response;
}

void ModelService::record_outcome(int http_status, Nanos took) {
  if (http_status < 400) ok_++;
  else if (http_status < 500) client_errors_++;
  else server_errors_++;
  if (http_status >= 400) return;
  latency_.observe(to_seconds(took));
  if (!first_done_.exchange(true)) {
    if (timeline_) timeline_->mark("first_request");
    if (first_response_) first_response_();
  }
}

Result<http::Response> ModelService::infer_or_error(const http::Request& request,
                                                    http::InferenceStats::Phases& phases, Size& size) {
  if (!ready_.load()) return make_error(Code::kUnavailable, "model '{}' is not ready yet", model_.name);
  const Nanos t_input = clock_.now();
  // A compressed body is decoded here, under a limit on its decoded size.
  std::string decoded;
  std::string_view body = request.body;
  if (auto enc = request.header("content-encoding")) {
    auto content = http::decode_content(*enc, request.body, options_.max_decoded_body);
    // 415 for a coding this worker does not decode; other errors of the request keep their status.
    if (!content.is_ok()) {
      size.body_bytes = options_.max_decoded_body;  // it may have decoded that much before refusing
      return http::content_coding_error(content.status());
    }
    decoded = std::move(content).value();
    body = decoded;
    size.body_bytes = std::max<uint64_t>(size.body_bytes, decoded.size());
  }
  std::optional<uint64_t> header_length;
  if (auto h = request.header("inference-header-content-length")) {
    THAW_ASSIGN_OR_RETURN(header_length, parse_header_length(*h));
  }
  THAW_ASSIGN_OR_RETURN(InferRequest req, decode_infer_request(body, header_length, options_.limits));
  THAW_TRY(check_batch(req.inputs, options_.work));

  const auto& sig = model_.backend->signature();
  std::vector<OwnedTensor> tokenized;
  std::vector<engine::InputTensor> inputs;
  bool has_text = false;
  for (const WireTensor& w : req.inputs) {
    if (w.type.bytes) {
      if (!accepts_text() || w.name != options_.text_input)
        return make_error(Code::kInvalidArgument, "input '{}' is BYTES; the model takes: {}{}", w.name,
                          names(sig.inputs), accepts_text() ? " (or BYTES '" + options_.text_input + "')" : "");
      if (w.shape.empty() || w.shape.size() > 2 || (w.shape.size() == 2 && w.shape[1] != 1))
        return make_error(Code::kInvalidArgument, "text input '{}' must have shape [batch] or [batch,1], got {}",
                          w.name, shape_text(w.shape));
      THAW_ASSIGN_OR_RETURN(tokenized, tokenize_batch(*model_.text_encoder, w.strings,
                                                      model_.max_text_tokens, sig));
      has_text = true;
      continue;
    }
    inputs.push_back({w.name, w.type.dtype, w.shape, w.data});
  }
  if (has_text) {
    if (!inputs.empty())
      return make_error(Code::kInvalidArgument, "send either text '{}' or token inputs, not both",
                        options_.text_input);
    inputs = views(tokenized);
  }
  THAW_TRY(validate(inputs));
  if (takes_token_inputs(sig)) {
    THAW_TRY(check_tokens(inputs, options_.work));
    if (!inputs.empty() && inputs.front().shape.size() == 2)
      size.tokens = static_cast<uint64_t>(inputs.front().shape[0]) * static_cast<uint64_t>(inputs.front().shape[1]);
  }

  std::vector<std::string> wanted;
  for (const auto& o : req.outputs) {
    if (std::none_of(sig.outputs.begin(), sig.outputs.end(), [&](auto& s) { return s.name == o.name; }))
      return make_error(Code::kInvalidArgument, "unknown output '{}'; the model gives: {}", o.name,
                        names(sig.outputs));
    wanted.push_back(o.name);
  }
  const Nanos t_infer = clock_.now();
  phases.compute_input_ns = static_cast<uint64_t>((t_infer - t_input).count());
  if (!inputs.empty() && !inputs.front().shape.empty() && inputs.front().shape[0] > 0)
    phases.batch = static_cast<uint64_t>(inputs.front().shape[0]);
  auto result = model_.backend->infer(inputs, wanted);
  const Nanos t_output = clock_.now();
  phases.compute_infer_ns = static_cast<uint64_t>((t_output - t_infer).count());
  if (!result.is_ok()) {
    const Status& s = result.status();
    // The backend names bad inputs itself; anything else is on our side.
    Code code = s.code() == Code::kInvalidArgument ? Code::kInvalidArgument : Code::kInternal;
    return Status(code, "inference failed: " + s.message());
  }
  std::vector<OutputTensorView> views_out;
  for (const auto& out : *result) {
    bool binary = req.binary_output_default;
    for (const auto& o : req.outputs)
      if (o.name == out.name) binary = o.binary;
    views_out.push_back({out.name, WireType{false, out.dtype}, out.shape, out.data, {}, binary});
  }
  THAW_TRY(check_response_size(encoded_size_bound(views_out), options_.work));
  EncodedResponse enc = encode_infer_response(model_.name, model_.version, req.id, views_out);
  phases.compute_output_ns = static_cast<uint64_t>((clock_.now() - t_output).count());
  http::Response response;
  response.status = 200;
  response.body = std::move(enc.body);
  if (enc.header_length) {
    response.content_type = "application/octet-stream";
    response.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*enc.header_length));
  }
  return response;
}

void ModelService::write_metrics(http::PrometheusText& out) const {
  http::Labels model = {{"model", model_.name}, {"version", model_.version}};
  out.family("thaw_model_ready", "gauge", "1 when the model has warmed up and serves requests.");
  out.sample("thaw_model_ready", model, ready() ? 1 : 0);
  out.family("thaw_inference_requests_total", "counter", "Inference requests by outcome.");
  for (auto [outcome, n] : {std::pair{"success", ok_.load()}, std::pair{"client_error", client_errors_.load()},
                            std::pair{"server_error", server_errors_.load()}}) {
    http::Labels l = model;
    l.emplace_back("outcome", outcome);
    out.sample("thaw_inference_requests_total", l, static_cast<double>(n));
  }
  out.family("thaw_warmup_inferences_total", "counter", "Warm-up inferences run before ready.");
  out.sample("thaw_warmup_inferences_total", model, static_cast<double>(warmup_runs_.load()));
  out.family("thaw_inference_duration_seconds", "histogram",
             "Time to decode, run and encode one inference request.");
  out.histogram("thaw_inference_duration_seconds", model, latency_.snapshot());
}

}  // namespace thaw::worker
