#include "engine/onnx/onnx_backend.h"

#include <cstring>
#include <limits>
#include <string>
#include <unordered_set>

#include <onnxruntime_c_api.h>

#include "engine/onnx/onnx_dtype.h"
#include "engine/onnx/ort_session_setup.h"
#include "engine/onnx/ort_status.h"

namespace thaw::engine {

struct OnnxBackend::Impl {
  const OrtApi* api = nullptr;
  // Declared before `session` so they are released after it: the session reads them.
  std::vector<OrtPtr<OrtValue>> weight_values;
  OrtPtr<OrtSession> session;
  OrtPtr<OrtMemoryInfo> cpu;
  // Failed runs come back as Status; ORT's own log line for them would only duplicate it.
  OrtPtr<OrtRunOptions> quiet_run;
  // quiet_run that also shrinks the CPU arena at the end of the run; null without an arena.
  OrtPtr<OrtRunOptions> shrinking_run;
  uint64_t shrink_above_bytes = 0;
};

namespace {

Result<TensorSpec> read_spec(const OrtApi& api, OrtSession* session, size_t index, bool input) {
  OrtAllocator* alloc = nullptr;
  THAW_ORT_TRY(api, api.GetAllocatorWithDefaultOptions(&alloc), "getting the default allocator");
  char* name = nullptr;
  THAW_ORT_TRY(api,
               input ? api.SessionGetInputName(session, index, alloc, &name)
                     : api.SessionGetOutputName(session, index, alloc, &name),
               "reading the model signature");
  TensorSpec spec;
  spec.name = name;
  api.ReleaseStatus(api.AllocatorFree(alloc, name));
  OrtTypeInfo* type_raw = nullptr;
  THAW_ORT_TRY(api,
               input ? api.SessionGetInputTypeInfo(session, index, &type_raw)
                     : api.SessionGetOutputTypeInfo(session, index, &type_raw),
               "reading the type of '" + spec.name + "'");
  OrtPtr<OrtTypeInfo> type(type_raw, OrtDeleter{&api});
  ONNXType onnx_type = ONNX_TYPE_UNKNOWN;
  THAW_ORT_TRY(api, api.GetOnnxTypeFromTypeInfo(type_raw, &onnx_type), "reading '" + spec.name + "'");
  if (onnx_type != ONNX_TYPE_TENSOR) {
    return make_error(Code::kUnsupported, "{} '{}' is not a tensor", input ? "input" : "output", spec.name);
  }
  const OrtTensorTypeAndShapeInfo* info = nullptr;
  THAW_ORT_TRY(api, api.CastTypeInfoToTensorInfo(type_raw, &info), "reading '" + spec.name + "'");
  ONNXTensorElementDataType elem = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  THAW_ORT_TRY(api, api.GetTensorElementType(info, &elem), "reading '" + spec.name + "'");
  auto dtype = dtype_from_onnx(elem);
  if (!dtype) {
    return make_error(Code::kUnsupported, "{} '{}' has unsupported element type {}",
                      input ? "input" : "output", spec.name, static_cast<int>(elem));
  }
  spec.dtype = *dtype;
  size_t rank = 0;
  THAW_ORT_TRY(api, api.GetDimensionsCount(info, &rank), "reading '" + spec.name + "'");
  spec.shape.resize(rank);
  THAW_ORT_TRY(api, api.GetDimensions(info, spec.shape.data(), rank), "reading '" + spec.name + "'");
  return spec;
}

Result<ModelSignature> read_signature(const OrtApi& api, OrtSession* session) {
  ModelSignature sig;
  size_t n = 0;
  THAW_ORT_TRY(api, api.SessionGetInputCount(session, &n), "counting inputs");
  for (size_t i = 0; i < n; ++i) {
    THAW_ASSIGN_OR_RETURN(TensorSpec s, read_spec(api, session, i, true));
    sig.inputs.push_back(std::move(s));
  }
  THAW_ORT_TRY(api, api.SessionGetOutputCount(session, &n), "counting outputs");
  for (size_t i = 0; i < n; ++i) {
    THAW_ASSIGN_OR_RETURN(TensorSpec s, read_spec(api, session, i, false));
    sig.outputs.push_back(std::move(s));
  }
  return sig;
}

// Checks one request tensor against its declared spec; returns its element count.
Result<size_t> check_input(const InputTensor& in, const TensorSpec& spec) {
  if (in.dtype != spec.dtype) {
    return make_error(Code::kInvalidArgument, "input '{}' has dtype {}, the model expects {}", in.name,
                      dtype_name(in.dtype), dtype_name(spec.dtype));
  }
  if (in.shape.size() != spec.shape.size()) {
    return make_error(Code::kInvalidArgument, "input '{}' has rank {}, the model expects rank {}",
                      in.name, in.shape.size(), spec.shape.size());
  }
  uint64_t elements = 1;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    const int64_t dim = in.shape[d];
    if (dim < 0) {
      return make_error(Code::kInvalidArgument, "input '{}' has negative dimension {} at axis {}",
                        in.name, dim, d);
    }
    if (spec.shape[d] >= 0 && dim != spec.shape[d]) {
      return make_error(Code::kInvalidArgument, "input '{}' axis {} is {}, the model expects {}",
                        in.name, d, dim, spec.shape[d]);
    }
    if (dim != 0 && elements > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dim)) {
      return make_error(Code::kInvalidArgument, "input '{}' shape is too large", in.name);
    }
    elements *= static_cast<uint64_t>(dim);
  }
  const uint64_t bytes = elements * dtype_size(in.dtype);
  if (elements > (std::numeric_limits<uint64_t>::max() / 16) || bytes != in.data.size()) {
    return make_error(Code::kInvalidArgument, "input '{}' holds {} bytes, its shape needs {}", in.name,
                      in.data.size(), bytes);
  }
  return static_cast<size_t>(elements);
}

Result<OutputTensor> read_output(const OrtApi& api, OrtValue* value, const std::string& name) {
  int is_tensor = 0;
  THAW_ORT_TRY(api, api.IsTensor(value, &is_tensor), "reading output '" + name + "'");
  if (!is_tensor) return make_error(Code::kUnsupported, "output '{}' is not a tensor", name);
  OrtTensorTypeAndShapeInfo* info_raw = nullptr;
  THAW_ORT_TRY(api, api.GetTensorTypeAndShape(value, &info_raw), "reading output '" + name + "'");
  OrtPtr<OrtTensorTypeAndShapeInfo> info(info_raw, OrtDeleter{&api});
  ONNXTensorElementDataType elem = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  THAW_ORT_TRY(api, api.GetTensorElementType(info_raw, &elem), "reading output '" + name + "'");
  auto dtype = dtype_from_onnx(elem);
  if (!dtype) {
    return make_error(Code::kUnsupported, "output '{}' has unsupported element type {}", name,
                      static_cast<int>(elem));
  }
  OutputTensor out;
  out.name = name;
  out.dtype = *dtype;
  size_t rank = 0;
  THAW_ORT_TRY(api, api.GetDimensionsCount(info_raw, &rank), "reading output '" + name + "'");
  out.shape.resize(rank);
  THAW_ORT_TRY(api, api.GetDimensions(info_raw, out.shape.data(), rank), "reading output '" + name + "'");
  size_t elements = 0;
  THAW_ORT_TRY(api, api.GetTensorShapeElementCount(info_raw, &elements), "reading output '" + name + "'");
  out.data.resize(elements * dtype_size(*dtype));
  if (!out.data.empty()) {
    void* src = nullptr;
    THAW_ORT_TRY(api, api.GetTensorMutableData(value, &src), "reading output '" + name + "'");
    std::memcpy(out.data.data(), src, out.data.size());
  }
  return out;
}


}  // namespace

OnnxBackend::OnnxBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxBackend::~OnnxBackend() = default;

Result<std::unique_ptr<Backend>> OnnxBackend::open(const OrtEnvironment& env, std::unique_ptr<Impl> impl,
                                                   const void* model, size_t model_size,
                                                   OrtSessionOptions* so, std::string_view what) {
  const OrtApi& api = env.api();
  OrtSession* session = nullptr;
  THAW_ORT_TRY(api, api.CreateSessionFromArray(env.env(), model, model_size, so, &session),
               fmt::format("creating the ONNX Runtime session from {}", what));
  impl->session = OrtPtr<OrtSession>(session, OrtDeleter{&api});
  OrtMemoryInfo* cpu = nullptr;
  THAW_ORT_TRY(api, api.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &cpu),
               "creating CPU memory info");
  impl->cpu = OrtPtr<OrtMemoryInfo>(cpu, OrtDeleter{&api});
  OrtRunOptions* run = nullptr;
  THAW_ORT_TRY(api, api.CreateRunOptions(&run), "creating run options");
  impl->quiet_run = OrtPtr<OrtRunOptions>(run, OrtDeleter{&api});
  THAW_ORT_TRY(api, api.RunOptionsSetRunLogSeverityLevel(run, ORT_LOGGING_LEVEL_FATAL),
               "setting the run log level");
  if (impl->shrink_above_bytes != 0) {
    OrtRunOptions* shrink = nullptr;
    THAW_ORT_TRY(api, api.CreateRunOptions(&shrink), "creating run options");
    impl->shrinking_run = OrtPtr<OrtRunOptions>(shrink, OrtDeleter{&api});
    THAW_ORT_TRY(api, api.RunOptionsSetRunLogSeverityLevel(shrink, ORT_LOGGING_LEVEL_FATAL),
                 "setting the run log level");
    THAW_ORT_TRY(api, api.AddRunConfigEntry(shrink, "memory.enable_memory_arena_shrinkage", "cpu:0"),
                 "enabling arena shrinkage");
  }
  THAW_ASSIGN_OR_RETURN(ModelSignature sig, read_signature(api, session));
  std::unique_ptr<OnnxBackend> backend(new OnnxBackend(std::move(impl)));
  backend->signature_ = std::move(sig);
  return std::unique_ptr<Backend>(std::move(backend));
}

Result<std::unique_ptr<Backend>> OnnxBackend::create(const OrtEnvironment& env,
                                                     std::string_view graph_bytes,
                                                     std::span<const std::byte> data_section,
                                                     const OnnxOptions& options) {
  const OrtApi& api = env.api();
  if (graph_bytes.empty()) return make_error(Code::kInvalidArgument, "the ONNX graph is empty");
  auto impl = std::make_unique<Impl>();
  impl->api = &api;
  impl->shrink_above_bytes = options.cpu_arena ? options.arena_shrink_above_bytes : 0;
  THAW_ASSIGN_OR_RETURN(OrtPtr<OrtSessionOptions> so, make_session_options(api, options));
  THAW_TRY(attach_weights(api, so.get(), options.weights, graph_bytes, data_section,
                          impl->weight_values));
  return open(env, std::move(impl), graph_bytes.data(), graph_bytes.size(), so.get(), "the ONNX graph");
}

Result<std::unique_ptr<Backend>> OnnxBackend::create_from_ort_format(const OrtEnvironment& env,
                                                                     std::span<const std::byte> ort_bytes,
                                                                     bool in_place,
                                                                     const OnnxOptions& options) {
  const OrtApi& api = env.api();
  if (ort_bytes.empty()) return make_error(Code::kInvalidArgument, "the ORT-format model is empty");
  auto impl = std::make_unique<Impl>();
  impl->api = &api;
  impl->shrink_above_bytes = options.cpu_arena ? options.arena_shrink_above_bytes : 0;
  THAW_ASSIGN_OR_RETURN(OrtPtr<OrtSessionOptions> so, make_session_options(api, options));
  THAW_ORT_TRY(api, api.AddSessionConfigEntry(so.get(), "session.load_model_format", "ORT"),
               "selecting the ORT format");
  if (in_place) {
    THAW_ORT_TRY(api, api.AddSessionConfigEntry(so.get(), "session.use_ort_model_bytes_directly", "1"),
                 "using the model bytes in place");
    THAW_ORT_TRY(api,
                 api.AddSessionConfigEntry(so.get(), "session.use_ort_model_bytes_for_initializers", "1"),
                 "using the model bytes for initializers");
  }
  return open(env, std::move(impl), ort_bytes.data(), ort_bytes.size(), so.get(), "the ORT-format model");
}

Result<std::vector<OutputTensor>> OnnxBackend::infer(std::span<const InputTensor> inputs,
                                                     std::span<const std::string> outputs) {
  const OrtApi& api = *impl_->api;
  const auto& specs = signature_.inputs;
  std::vector<const InputTensor*> by_spec(specs.size(), nullptr);
  for (const InputTensor& in : inputs) {
    size_t i = 0;
    while (i < specs.size() && specs[i].name != in.name) ++i;
    if (i == specs.size()) return make_error(Code::kInvalidArgument, "unknown input '{}'", in.name);
    if (by_spec[i] != nullptr) return make_error(Code::kInvalidArgument, "input '{}' given twice", in.name);
    by_spec[i] = &in;
  }
  std::vector<OrtPtr<OrtValue>> values;
  std::vector<const OrtValue*> value_ptrs;
  std::vector<const char*> input_names;
  static std::byte empty_tensor_storage[16];
  for (size_t i = 0; i < specs.size(); ++i) {
    const InputTensor* in = by_spec[i];
    if (in == nullptr) return make_error(Code::kInvalidArgument, "missing input '{}'", specs[i].name);
    THAW_ASSIGN_OR_RETURN(size_t elements, check_input(*in, specs[i]));
    (void)elements;
    void* data = in->data.empty() ? empty_tensor_storage : const_cast<std::byte*>(in->data.data());
    OrtValue* v = nullptr;
    THAW_ORT_TRY(api,
                 api.CreateTensorWithDataAsOrtValue(
                     impl_->cpu.get(), data, in->data.size(), in->shape.data(), in->shape.size(),
                     static_cast<ONNXTensorElementDataType>(onnx_from_dtype(in->dtype)), &v),
                 "wrapping input '" + in->name + "'");
    values.emplace_back(v, OrtDeleter{&api});
    value_ptrs.push_back(v);
    input_names.push_back(specs[i].name.c_str());
  }
  std::vector<const char*> output_names;
  if (outputs.empty()) {
    for (const TensorSpec& s : signature_.outputs) output_names.push_back(s.name.c_str());
  } else {
    std::unordered_set<std::string_view> seen;
    for (const std::string& name : outputs) {
      const TensorSpec* found = nullptr;
      for (const TensorSpec& s : signature_.outputs) {
        if (s.name == name) found = &s;
      }
      if (found == nullptr) return make_error(Code::kInvalidArgument, "unknown output '{}'", name);
      if (!seen.insert(name).second) {
        return make_error(Code::kInvalidArgument, "output '{}' requested twice", name);
      }
      output_names.push_back(found->name.c_str());
    }
  }
  std::vector<OrtValue*> results(output_names.size(), nullptr);
  uint64_t input_bytes = 0;
  for (const InputTensor& in : inputs) input_bytes += in.data.size();
  const bool shrink = impl_->shrinking_run && input_bytes > impl_->shrink_above_bytes;
  OrtStatus* run = api.Run(impl_->session.get(), shrink ? impl_->shrinking_run.get() : impl_->quiet_run.get(), input_names.data(), value_ptrs.data(),
                           value_ptrs.size(), output_names.data(), output_names.size(), results.data());
  std::vector<OrtPtr<OrtValue>> owned;
  for (OrtValue* r : results) owned.emplace_back(r, OrtDeleter{&api});
  THAW_TRY(from_ort(api, run, "running the model"));
  std::vector<OutputTensor> out;
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    THAW_ASSIGN_OR_RETURN(OutputTensor t, read_output(api, results[i], output_names[i]));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace thaw::engine
