// exec -> first answer with plain ONNX Runtime, the way a C++ service is usually written: the C API,
// one environment, a session created from the .onnx path with default options, one Run.
//
// Usage: thaw_ort_first_answer MODEL.onnx IDS [OUTPUT]
//   IDS: comma-separated token ids of one sequence (batch 1). Inputs named input_ids,
//   attention_mask and token_type_ids get the ids, ones and zeros. OUTPUT (default
//   sentence_embedding) is printed as one JSON line:
//   {"event":"answer","output":[...],"env_ms":..,"create_ms":..,"run_ms":..,"main_to_answer_ms":..}
// The caller times exec -> that line and checks the output against its reference.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <onnxruntime_c_api.h>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "thaw_ort_first_answer: %s\n", what.c_str());
  std::exit(1);
}

void ok(const OrtApi& api, OrtStatus* s, const char* what) {
  if (s == nullptr) return;
  std::string msg = std::string(what) + ": " + api.GetErrorMessage(s);
  api.ReleaseStatus(s);
  die(msg);
}

std::vector<int64_t> parse_ids(const std::string& csv) {
  std::vector<int64_t> ids;
  std::stringstream in(csv);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      ids.push_back(std::stoll(item));
    } catch (const std::exception&) {
      die("bad token id '" + item + "'");
    }
  }
  if (ids.empty()) die("no token ids");
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  const auto t_main = Clock::now();
  if (argc < 3 || argc > 4) die("usage: thaw_ort_first_answer MODEL.onnx IDS [OUTPUT]");
  const std::string model = argv[1], output_name = argc == 4 ? argv[3] : "sentence_embedding";
  std::vector<int64_t> ids = parse_ids(argv[2]);
  std::vector<int64_t> ones(ids.size(), 1), zeros(ids.size(), 0);

  const OrtApi& api = *OrtGetApiBase()->GetApi(ORT_API_VERSION);
  auto t = Clock::now();
  OrtEnv* env = nullptr;
  ok(api, api.CreateEnv(ORT_LOGGING_LEVEL_WARNING, "first_answer", &env), "env");
  const double env_ms = ms_since(t);

  t = Clock::now();
  OrtSessionOptions* so = nullptr;
  ok(api, api.CreateSessionOptions(&so), "session options");
  OrtSession* session = nullptr;
  ok(api, api.CreateSession(env, model.c_str(), so, &session), "session");
  const double create_ms = ms_since(t);

  t = Clock::now();
  OrtAllocator* alloc = nullptr;
  ok(api, api.GetAllocatorWithDefaultOptions(&alloc), "allocator");
  OrtMemoryInfo* mem = nullptr;
  ok(api, api.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem), "memory info");
  size_t n_inputs = 0;
  ok(api, api.SessionGetInputCount(session, &n_inputs), "input count");
  std::vector<std::string> names;
  std::vector<OrtValue*> values;
  const int64_t shape[2] = {1, static_cast<int64_t>(ids.size())};
  for (size_t i = 0; i < n_inputs; ++i) {
    char* name = nullptr;
    ok(api, api.SessionGetInputName(session, i, alloc, &name), "input name");
    names.emplace_back(name);
    ok(api, api.AllocatorFree(alloc, name), "free");
    std::vector<int64_t>* src = names.back() == "input_ids"        ? &ids
                                : names.back() == "attention_mask" ? &ones
                                : names.back() == "token_type_ids" ? &zeros
                                                                   : nullptr;
    if (src == nullptr) die("unexpected model input '" + names.back() + "'");
    OrtValue* v = nullptr;
    ok(api, api.CreateTensorWithDataAsOrtValue(mem, src->data(), src->size() * sizeof(int64_t), shape, 2,
                                               ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &v),
       "input tensor");
    values.push_back(v);
  }
  std::vector<const char*> name_ptrs;
  for (const auto& n : names) name_ptrs.push_back(n.c_str());
  const char* out_names[] = {output_name.c_str()};
  OrtValue* out = nullptr;
  ok(api, api.Run(session, nullptr, name_ptrs.data(), values.data(), values.size(), out_names, 1, &out), "run");
  OrtTensorTypeAndShapeInfo* info = nullptr;
  ok(api, api.GetTensorTypeAndShape(out, &info), "output shape");
  size_t count = 0;
  ok(api, api.GetTensorShapeElementCount(info, &count), "output size");
  api.ReleaseTensorTypeAndShapeInfo(info);
  float* data = nullptr;
  ok(api, api.GetTensorMutableData(out, reinterpret_cast<void**>(&data)), "output data");
  const double run_ms = ms_since(t);

  nlohmann::json line = {{"event", "answer"},         {"output", std::vector<float>(data, data + count)},
                         {"env_ms", env_ms},          {"create_ms", create_ms},
                         {"run_ms", run_ms},          {"main_to_answer_ms", ms_since(t_main)},
                         {"onnxruntime", OrtGetApiBase()->GetVersionString()}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);

  api.ReleaseValue(out);
  for (OrtValue* v : values) api.ReleaseValue(v);
  api.ReleaseMemoryInfo(mem);
  api.ReleaseSession(session);
  api.ReleaseSessionOptions(so);
  api.ReleaseEnv(env);
  return 0;
}
