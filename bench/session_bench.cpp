// Session-creation benchmark for the ONNX Runtime backend: plain ORT as people write it against
// every zero-copy weight source, with and without pack-time optimisation, plus first and warm
// inference and exec-to-first-answer in fresh processes. Prints a markdown table and writes JSON.
//
// Usage: thaw_session_bench --model model.onnx --bundle-dir DIR --reference reference.json
//            [--reps N] [--exec-reps N] [--json out.json]
// DIR holds graph.onnx + thaw.data (the bundle contract); optimised variants are written there.
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <onnxruntime_c_api.h>

#include "engine/onnx/onnx_backend.h"
#include "engine/onnx/onnx_optimize.h"
#include "engine/onnx/ort_environment.h"

extern char** environ;

namespace {

using thaw::engine::Backend;
using thaw::engine::GraphOptimization;
using thaw::engine::OnnxBackend;
using thaw::engine::OnnxOptions;
using thaw::engine::OrtEnvironment;
using thaw::engine::WeightSource;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "thaw_session_bench: " << what << "\n";
  std::exit(1);
}

template <typename T>
T check(thaw::Result<T> r, const std::string& what) {
  if (!r.is_ok()) die(what + ": " + r.status().to_string());
  return std::move(r).value();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) die("cannot write " + path);
}

// A read-only, pre-faulted file mapping: what the loader hands the engine for a hot bundle.
class Mapping {
 public:
  explicit Mapping(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open " + path);
    struct stat st {};
    ::fstat(fd, &st);
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      ptr_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (ptr_ == MAP_FAILED) die("cannot map " + path);
    }
    ::close(fd);
  }
  ~Mapping() {
    if (ptr_ != nullptr && ptr_ != MAP_FAILED) ::munmap(ptr_, size_);
  }
  Mapping(const Mapping&) = delete;
  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(ptr_), size_}; }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// Anonymous resident memory: grows by the size of any weight copy, not by mapped file pages.
double rss_anon_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stod(line.substr(8)) / 1024.0;
  }
  return NAN;
}

struct Reference {
  std::vector<int64_t> ids;
  std::vector<float> embedding;
};

Reference load_reference(const std::string& path, size_t index) {
  auto j = nlohmann::json::parse(slurp(path));
  Reference r;
  r.ids = j.at("input_ids").at(index).get<std::vector<int64_t>>();
  r.embedding = j.at("embeddings").at(index).get<std::vector<float>>();
  return r;
}

double cosine(const float* a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

// One request through the Backend interface; returns the cosine against the reference.
double run_backend(Backend& backend, const Reference& ref) {
  const int64_t n = static_cast<int64_t>(ref.ids.size());
  std::vector<int64_t> mask(ref.ids.size(), 1), types(ref.ids.size(), 0);
  auto span_of = [](const std::vector<int64_t>& v) {
    return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * 8);
  };
  std::vector<thaw::engine::InputTensor> in = {
      {"input_ids", thaw::DType::kI64, {1, n}, span_of(ref.ids)},
      {"attention_mask", thaw::DType::kI64, {1, n}, span_of(mask)},
      {"token_type_ids", thaw::DType::kI64, {1, n}, span_of(types)},
  };
  auto out = check(backend.infer(in, {}), "infer");
  for (const auto& t : out) {
    if (t.name == "sentence_embedding") return cosine(reinterpret_cast<const float*>(t.data.data()), ref.embedding);
  }
  die("no sentence_embedding output");
}

void ok(const OrtApi& api, OrtStatus* s, const char* what) {
  if (s == nullptr) return;
  std::string msg = std::string(what) + ": " + api.GetErrorMessage(s);
  api.ReleaseStatus(s);
  die(msg);
}

// Plain ORT through the C API, the way most code does it: a path and default session options.
struct PlainSession {
  const OrtApi* api;
  OrtSession* session = nullptr;
  PlainSession(const OrtEnvironment& env, const std::string& path) : api(&env.api()) {
    OrtSessionOptions* so = nullptr;
    ok(*api, api->CreateSessionOptions(&so), "session options");
    OrtStatus* s = api->CreateSession(env.env(), path.c_str(), so, &session);
    api->ReleaseSessionOptions(so);
    ok(*api, s, "plain session");
  }
  ~PlainSession() { api->ReleaseSession(session); }
};

double run_plain(PlainSession& p, const Reference& ref) {
  const OrtApi& api = *p.api;
  OrtMemoryInfo* mem = nullptr;
  ok(api, api.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &mem), "memory info");
  std::vector<int64_t> mask(ref.ids.size(), 1), types(ref.ids.size(), 0), ids = ref.ids;
  int64_t shape[2] = {1, static_cast<int64_t>(ids.size())};
  OrtValue* vals[3] = {};
  std::vector<int64_t>* bufs[3] = {&ids, &mask, &types};
  for (int i = 0; i < 3; ++i) {
    ok(api, api.CreateTensorWithDataAsOrtValue(mem, bufs[i]->data(), bufs[i]->size() * 8, shape, 2,
                                               ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &vals[i]),
       "input tensor");
  }
  const char* in_names[] = {"input_ids", "attention_mask", "token_type_ids"};
  const char* out_names[] = {"sentence_embedding"};
  OrtValue* out = nullptr;
  ok(api, api.Run(p.session, nullptr, in_names, vals, 3, out_names, 1, &out), "plain run");
  float* data = nullptr;
  ok(api, api.GetTensorMutableData(out, reinterpret_cast<void**>(&data)), "output");
  double c = cosine(data, ref.embedding);
  api.ReleaseValue(out);
  for (auto* v : vals) api.ReleaseValue(v);
  api.ReleaseMemoryInfo(mem);
  return c;
}

struct Variant {
  std::string name;
  std::string graph_kind;  // "file", "raw", "opt-extended", "opt-all", "ort"
  OnnxOptions options;
  bool ort_in_place = true;
};

struct Inputs {
  std::string model_path;
  std::map<std::string, std::string> graphs;                    // graph kind -> graph bytes
  std::map<std::string, std::unique_ptr<Mapping>> data;         // graph kind -> mapped weights
};

// Creates a session for `v`; returns a callable running one inference (or dies).
struct Instance {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<PlainSession> plain;
  double run(const Reference& ref) { return backend ? run_backend(*backend, ref) : run_plain(*plain, ref); }
};

Instance create(const OrtEnvironment& env, const Inputs& in, const Variant& v) {
  Instance inst;
  if (v.graph_kind == "file") {
    inst.plain = std::make_unique<PlainSession>(env, in.model_path);
  } else if (v.graph_kind.rfind("ort", 0) == 0) {
    inst.backend = check(OnnxBackend::create_from_ort_format(env, in.data.at(v.graph_kind)->bytes(), v.ort_in_place,
                                                             v.options),
                         v.name);
  } else {
    inst.backend = check(OnnxBackend::create(env, in.graphs.at(v.graph_kind), in.data.at(v.graph_kind)->bytes(),
                                             v.options),
                         v.name);
  }
  return inst;
}

std::vector<Variant> variants() {
  auto opt = [](WeightSource w, GraphOptimization g, bool prepack) {
    OnnxOptions o;
    o.weights = w;
    o.optimization = g;
    o.prepack_weights = prepack;
    return o;
  };
  using W = WeightSource;
  using G = GraphOptimization;
  return {
      {"plain ORT, model.onnx path, default options", "file", {}},
      {"raw graph, files-in-memory, optimise at load (all), prepack", "raw", opt(W::kFilesInMemory, G::kAll, true)},
      {"raw graph, files-in-memory, optimise at load (all)", "raw", opt(W::kFilesInMemory, G::kAll, false)},
      {"raw graph, files-in-memory, no optimisation", "raw", opt(W::kFilesInMemory, G::kNone, false)},
      {"raw graph, initializer values, optimise at load (all)", "raw", opt(W::kInitializerValues, G::kAll, false)},
      {"pack-optimised (extended), files-in-memory", "opt-extended", opt(W::kFilesInMemory, G::kNone, false)},
      {"pack-optimised (all), files-in-memory, prepack", "opt-all", opt(W::kFilesInMemory, G::kNone, true)},
      {"pack-optimised (all), files-in-memory", "opt-all", opt(W::kFilesInMemory, G::kNone, false)},
      {"pack-optimised (all), initializer values", "opt-all", opt(W::kInitializerValues, G::kNone, false)},
      {"ORT format (extended), bytes in place [default]", "ort", opt(W::kFilesInMemory, G::kNone, false), true},
      {"ORT format (extended), bytes in place, prepack", "ort", opt(W::kFilesInMemory, G::kNone, true), true},
      {"ORT format (extended), bytes copied", "ort", opt(W::kFilesInMemory, G::kNone, false), false},
      {"ORT format (all), bytes in place", "ort-all", opt(W::kFilesInMemory, G::kNone, false), true},
  };
}

// CPU time of this process so far (user + system): less sensitive to a busy machine than wall time.
double cpu_ms() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// Child mode: everything a cold worker does, timed from the parent's spawn.
int child_main(const std::string& kind, const std::string& model, const std::string& dir,
               const std::string& ref_path, long long t0_ns) {
  auto since_spawn = [&] {
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    return (now - t0_ns) / 1e6;
  };
  const double at_main = since_spawn();
  Reference ref = load_reference(ref_path, 1);
  auto t = Clock::now();
  // Plain ORT runs as shipped (telemetry on); thaw's environment turns it off.
  const bool plain = kind == "file";
  if (plain) ::unsetenv("ORT_DISABLE_TELEMETRY");
  auto env = check(OrtEnvironment::create(thaw::engine::OrtLogLevel::kWarning, plain), "env");
  const double env_ms = ms_since(t);
  t = Clock::now();
  double cos = 0;
  double rss_growth = NAN;
  if (kind == "file") {
    const double rss0 = rss_anon_mb();
    PlainSession p(*env, model);
    const double create_ms = ms_since(t);
    rss_growth = rss_anon_mb() - rss0;
    t = Clock::now();
    cos = run_plain(p, ref);
    std::printf("{\"main_ms\":%.3f,\"env_ms\":%.3f,\"create_ms\":%.3f,\"infer_ms\":%.3f,\"total_ms\":%.3f,\"cosine\":%.6f,\"rss_anon_growth_mb\":%.1f,\"cpu_ms\":%.1f}\n",
                at_main, env_ms, create_ms, ms_since(t), since_spawn(), cos, rss_growth, cpu_ms());
    return 0;
  }
  if (kind.rfind("ort", 0) == 0) {
    Mapping ort_bytes(dir + "/" + kind + ".ort");
    const double rss0 = rss_anon_mb();
    t = Clock::now();
    auto backend = check(OnnxBackend::create_from_ort_format(*env, ort_bytes.bytes(), true, {}), "create");
    const double create_ms = ms_since(t);
    rss_growth = rss_anon_mb() - rss0;
    t = Clock::now();
    cos = run_backend(*backend, ref);
    std::printf("{\"main_ms\":%.3f,\"env_ms\":%.3f,\"create_ms\":%.3f,\"infer_ms\":%.3f,\"total_ms\":%.3f,\"cosine\":%.6f,\"rss_anon_growth_mb\":%.1f,\"cpu_ms\":%.1f}\n",
                at_main, env_ms, create_ms, ms_since(t), since_spawn(), cos, rss_growth, cpu_ms());
    return 0;
  }
  OnnxOptions o;
  std::string graph_kind = kind;
  if (const std::string suffix = "-values"; kind.size() > suffix.size() && kind.ends_with(suffix)) {
    graph_kind = kind.substr(0, kind.size() - suffix.size());
    o.weights = WeightSource::kInitializerValues;
  }
  const std::string graph = slurp(dir + "/" + graph_kind + ".onnx");
  Mapping data(dir + "/" + graph_kind + ".data");
  if (graph_kind == "raw") o.optimization = GraphOptimization::kAll;
  const double rss0 = rss_anon_mb();
  t = Clock::now();
  auto backend = check(OnnxBackend::create(*env, graph, data.bytes(), o), "create");
  const double create_ms = ms_since(t);
  rss_growth = rss_anon_mb() - rss0;
  t = Clock::now();
  cos = run_backend(*backend, ref);
  std::printf("{\"main_ms\":%.3f,\"env_ms\":%.3f,\"create_ms\":%.3f,\"infer_ms\":%.3f,\"total_ms\":%.3f,\"cosine\":%.6f,\"rss_anon_growth_mb\":%.1f,\"cpu_ms\":%.1f}\n",
              at_main, env_ms, create_ms, ms_since(t), since_spawn(), cos, rss_growth, cpu_ms());
  return 0;
}

nlohmann::json spawn_child(const std::string& self, const std::vector<std::string>& args) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) die("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  std::vector<std::string> all = {self};
  all.insert(all.end(), args.begin(), args.end());
  auto t0 = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  all.push_back("--t0");
  all.push_back(std::to_string(t0));
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ) != 0) die("spawn");
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child failed: " + out);
  return nlohmann::json::parse(out);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  auto arg = [&](const std::string& k, const std::string& def = "") {
    auto it = args.find(k);
    if (it != args.end()) return it->second;
    if (def.empty()) die("missing " + k + " (see the header of bench/session_bench.cpp)");
    return def;
  };
  const std::string model = arg("--model"), dir = arg("--bundle-dir"), ref_path = arg("--reference");
  if (args.count("--child")) {
    return child_main(args["--child"], model, dir, ref_path, std::stoll(arg("--t0")));
  }
  const int reps = std::stoi(arg("--reps", "10"));
  const int exec_reps = std::stoi(arg("--exec-reps", "5"));
  const std::string json_path = arg("--json", "bench/results/session-latest.json");
  const Reference ref = load_reference(ref_path, 1);

  auto env = check(OrtEnvironment::create(thaw::engine::OrtLogLevel::kError), "env");
  std::cerr << "ONNX Runtime " << OrtGetApiBase()->GetVersionString() << "\n";

  // Pack-time work: optimise the graph once per level and lay out the results like a bundle.
  Inputs in;
  in.model_path = model;
  in.graphs["raw"] = slurp(dir + "/graph.onnx");
  in.data["raw"] = std::make_unique<Mapping>(dir + "/thaw.data");
  nlohmann::json pack_json;
  for (auto [kind, level] : {std::pair{"opt-extended", GraphOptimization::kExtended},
                             std::pair{"opt-all", GraphOptimization::kAll}}) {
    auto t = Clock::now();
    thaw::engine::OptimizeOptions oo;
    oo.level = level;
    auto opt = check(thaw::engine::optimize_for_bundle(*env, in.graphs["raw"], in.data["raw"]->bytes(), oo), kind);
    pack_json[kind] = {{"optimize_ms", ms_since(t)}, {"graph_bytes", opt.graph.size()}, {"data_bytes", opt.data.size()}};
    spit(dir + "/" + kind + ".onnx", opt.graph.data(), opt.graph.size());
    spit(dir + "/" + kind + ".data", opt.data.data(), opt.data.size());
    in.graphs[kind] = opt.graph;
    in.data[kind] = std::make_unique<Mapping>(dir + "/" + kind + ".data");
  }
  // The raw graph under its kind name too, for the exec children.
  spit(dir + "/raw.onnx", in.graphs["raw"].data(), in.graphs["raw"].size());
  ::unlink((dir + "/raw.data").c_str());
  if (::symlink("thaw.data", (dir + "/raw.data").c_str()) != 0) die("symlink raw.data");
  for (auto [kind, level] : {std::pair{"ort", GraphOptimization::kExtended},
                             std::pair{"ort-all", GraphOptimization::kAll}}) {
    auto t = Clock::now();
    thaw::engine::OptimizeOptions oo;
    oo.level = level;
    auto ort = check(thaw::engine::convert_to_ort_format(*env, in.graphs["raw"], in.data["raw"]->bytes(), oo), kind);
    pack_json[kind] = {{"convert_ms", ms_since(t)}, {"ort_bytes", ort.size()}};
    spit(dir + "/" + kind + ".ort", ort.data(), ort.size());
    in.data[kind] = std::make_unique<Mapping>(dir + "/" + kind + ".ort");
  }

  nlohmann::json results = nlohmann::json::array();
  std::printf("\n| variant | create median ms | create min ms | first infer ms | warm infer median ms | cosine |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Variant& v : variants()) {
    std::vector<double> create_ms, first_ms, warm_ms;
    double cos = NAN;
    for (int r = 0; r < reps; ++r) {
      auto t = Clock::now();
      Instance inst = create(*env, in, v);
      create_ms.push_back(ms_since(t));
      t = Clock::now();
      cos = inst.run(ref);
      first_ms.push_back(ms_since(t));
      if (r == 0) {
        for (int w = 0; w < 20; ++w) {
          t = Clock::now();
          inst.run(ref);
          warm_ms.push_back(ms_since(t));
        }
      }
    }
    std::printf("| %s | %.1f | %.1f | %.2f | %.2f | %.6f |\n", v.name.c_str(), median(create_ms),
                *std::min_element(create_ms.begin(), create_ms.end()), median(first_ms),
                median(warm_ms), cos);
    std::fflush(stdout);
    results.push_back({{"variant", v.name},
                       {"create_ms_median", median(create_ms)},
                       {"create_ms", create_ms},
                       {"first_infer_ms_median", median(first_ms)},
                       {"warm_infer_ms_median", median(warm_ms)},
                       {"cosine", cos}});
  }

  // exec -> first answer in fresh processes (includes loading libonnxruntime and creating the env).
  nlohmann::json exec_json = nlohmann::json::array();
  std::printf("\n| exec → first answer (fresh process) | total median ms | to main() | env | create | first infer | process CPU ms | anon RSS growth at create MB |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::string self = "/proc/self/exe";
  char self_path[4096];
  ssize_t len = ::readlink(self.c_str(), self_path, sizeof self_path - 1);
  if (len <= 0) die("readlink /proc/self/exe");
  self_path[len] = 0;
  for (auto [kind, label] : {std::pair{"file", "plain ORT, model.onnx path, default options"},
                             std::pair{"raw", "raw graph, files-in-memory, optimise at load (all)"},
                             std::pair{"opt-all", "pack-optimised (all), files-in-memory"},
                             std::pair{"opt-all-values", "pack-optimised (all), initializer values"},
                             std::pair{"ort", "ORT format (extended), bytes in place [default]"},
                             std::pair{"ort-all", "ORT format (all), bytes in place"}}) {
    std::vector<double> total, main_ms, env_ms, create_ms, infer_ms, rss, cpu;
    for (int r = 0; r < exec_reps; ++r) {
      auto j = spawn_child(self_path, {"--child", kind, "--model", model, "--bundle-dir", dir, "--reference", ref_path});
      total.push_back(j["total_ms"]);
      main_ms.push_back(j["main_ms"]);
      env_ms.push_back(j["env_ms"]);
      create_ms.push_back(j["create_ms"]);
      infer_ms.push_back(j["infer_ms"]);
      rss.push_back(j["rss_anon_growth_mb"]);
      cpu.push_back(j["cpu_ms"]);
      if (j["cosine"].get<double>() < 0.9999) die(std::string("wrong answer from ") + kind);
    }
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", label, median(total), median(main_ms),
                median(env_ms), median(create_ms), median(infer_ms), median(cpu), median(rss));
    exec_json.push_back({{"variant", label}, {"total_ms_median", median(total)}, {"total_ms", total},
                         {"to_main_ms_median", median(main_ms)}, {"env_ms_median", median(env_ms)},
                         {"create_ms_median", median(create_ms)}, {"first_infer_ms_median", median(infer_ms)},
                         {"rss_anon_growth_mb_median", median(rss)},
                         {"cpu_ms_median", median(cpu)}});
  }

  nlohmann::json doc = {{"benchmark", "session"},
                        {"onnxruntime", OrtGetApiBase()->GetVersionString()},
                        {"reps", reps},
                        {"tokens", ref.ids.size()},
                        {"pack", pack_json},
                        {"sessions", results},
                        {"exec_to_first_answer", exec_json}};
  std::ofstream(json_path) << doc.dump(2) << "\n";
  std::printf("\nJSON: %s\n", json_path.c_str());
  return 0;
}
