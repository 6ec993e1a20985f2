// The worker on a real MiniLM bundle through the built-in registry (the ONNX plugin): loading,
// warm-up from the bundle's inputs and embeddings over HTTP checked against sentence-transformers.
#include "worker/bundle_model.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/bundle.h"
#include "engine/builtin_registry.h"
#include "engine/onnx/onnx_graph.h"
#include "http/client.h"
#include "http/server.h"
#include "worker/routes.h"
#include "worker/worker.h"

namespace thaw::worker {
namespace {
using json = nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes MiniLM (graph.onnx + thaw.data laid out with external weights) as a bundle with its
// tokenizer and one warm-up request. The writer places tensors in order on 4 KiB boundaries, the
// same offsets the graph's external references already carry.
std::string write_minilm_bundle(const std::string& dir) {
  static std::string graph = slurp(std::string(WORKER_MINILM_DIR) + "/graph.onnx");
  static std::string data = slurp(std::string(WORKER_MINILM_DIR) + "/thaw.data");
  auto inits = engine::list_external_initializers(graph);
  EXPECT_TRUE(inits.is_ok()) << inits.status().to_string();
  bundle::BundleContents c;
  c.name = "minilm";
  c.version = "2";
  c.backend = "onnx";
  for (const auto& e : *inits)
    c.tensors.push_back({e.name, e.dtype, e.shape, std::as_bytes(std::span(data.data() + e.offset, e.length))});
  auto planned = bundle::plan_tensor_offsets(c.tensors);
  for (size_t i = 0; i < planned.size(); ++i) EXPECT_EQ(planned[i], (*inits)[i].offset) << (*inits)[i].name;
  c.files.push_back({"graph.onnx", graph});
  c.files.push_back({"tokenizer.json", slurp(std::string(THAW_SOURCE_DIR) + "/models/src/minilm/tokenizer.json")});
  std::vector<int64_t> ids = {101, 7592, 2088, 102}, mask = {1, 1, 1, 1}, types = {0, 0, 0, 0};
  bundle::WarmupRequest w;
  for (auto [name, v] : {std::pair{"input_ids", &ids}, std::pair{"attention_mask", &mask}, std::pair{"token_type_ids", &types}}) {
    std::string file = std::string("warmup/0/") + name;
    c.files.push_back({file, std::string(reinterpret_cast<const char*>(v->data()), v->size() * 8)});
    w.inputs.push_back({name, DType::kI64, {1, 4}, file});
  }
  c.warmup.push_back(w);
  c.metadata["max_seq_length"] = 256;
  std::string path = dir + "/minilm.thaw";
  bundle::WriteOptions o;
  o.threads = 1;
  Status s = bundle::write(path, c, o);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return path;
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST(BundleModel, ServesMiniLMEmbeddingsThatMatchTheReference) {
  std::string path = write_minilm_bundle(::testing::TempDir());
  SteadyClock clock;
  ColdStartTimeline timeline(clock, ExecTime{clock.now(), ExecTimeSource::kEnv});
  timeline.mark("main");
  auto model = load_bundle_model(engine::make_builtin_registry(), path, {}, timeline);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  EXPECT_TRUE(timeline.has("bundle_open"));
  EXPECT_TRUE(timeline.has("session_create"));
  EXPECT_EQ(model->name, "minilm");
  EXPECT_EQ(model->version, "2");
  EXPECT_EQ(model->max_text_tokens, 256u);
  EXPECT_EQ(model->platform, "onnxruntime_onnx");
  ASSERT_EQ(model->warmup.size(), 1u);

  ModelService service(std::move(model).value(), {}, clock, &timeline);
  ASSERT_TRUE(service.warm_up(2).is_ok());
  service.set_ready(true);
  RouteContext ctx;
  ctx.service = &service;
  auto server = http::Server::listen({}, make_router(ctx));
  ASSERT_TRUE(server.is_ok());
  (*server)->start();
  http::Client client(http::ClientOptions{(*server)->endpoint(), std::chrono::seconds(60)});

  auto ref = json::parse(slurp(std::string(THAW_SOURCE_DIR) + "/models/src/minilm/reference.json"));
  for (size_t i = 0; i < 3; ++i) {
    std::vector<int64_t> ids = ref["input_ids"][i];
    std::vector<int64_t> ones(ids.size(), 1), zeros(ids.size(), 0);
    json req = {{"inputs", {{{"name", "input_ids"}, {"datatype", "INT64"}, {"shape", {1, ids.size()}}, {"data", ids}},
                            {{"name", "attention_mask"}, {"datatype", "INT64"}, {"shape", {1, ids.size()}}, {"data", ones}},
                            {{"name", "token_type_ids"}, {"datatype", "INT64"}, {"shape", {1, ids.size()}}, {"data", zeros}}}}};
    auto r = client.post("/v2/models/minilm/versions/2/infer", req.dump());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(r->status, 200) << r->body;
    auto out = json::parse(r->body)["outputs"][0];
    EXPECT_EQ(out["name"], "sentence_embedding");
    EXPECT_EQ(out["shape"], json({1, 384}));
    EXPECT_GE(cosine(out["data"].get<std::vector<double>>(), ref["embeddings"][i].get<std::vector<double>>()), 0.9999);
  }
  auto bad = client.post("/v2/models/minilm/infer",
                         R"({"inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,2],"data":[1,2]}]})");
  ASSERT_TRUE(bad.is_ok());
  EXPECT_EQ(bad->status, 400);
}

TEST(BundleModel, AGraphOptimizationOptionLoadsAndWarmsUp) {
  std::string path = write_minilm_bundle(::testing::TempDir());
  SteadyClock clock;
  ColdStartTimeline timeline(clock, ExecTime{});
  const engine::Registry backends = engine::make_builtin_registry();
  BundleModelOptions options;
  options.backend_options = {"graph_optimization=extended"};
  auto model = load_bundle_model(backends, path, options, timeline);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  ModelService service(std::move(model).value(), {}, clock, &timeline);
  EXPECT_TRUE(service.warm_up(1).is_ok());
}

TEST(BundleModel, MissingOrBrokenBundlesAreErrors) {
  SteadyClock clock;
  ColdStartTimeline timeline(clock, ExecTime{});
  const engine::Registry backends = engine::make_builtin_registry();
  auto missing = load_bundle_model(backends, "/nonexistent/x.thaw", {}, timeline);
  EXPECT_FALSE(missing.is_ok());
  std::string junk = ::testing::TempDir() + "/junk.thaw";
  std::ofstream(junk) << "not a bundle";
  auto broken = load_bundle_model(backends, junk, {}, timeline);
  EXPECT_FALSE(broken.is_ok());
}

}  // namespace
}  // namespace thaw::worker
