// The worker's HTTP surface over real sockets, with small arithmetic backends.
#include "worker/routes.h"

#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/client.h"
#include "http/server.h"
#include "test_backends.h"
#include "worker/worker.h"

namespace thaw::worker {
namespace {
using json = nlohmann::json;
using namespace std::chrono_literals;

struct Harness {
  SteadyClock clock;
  ColdStartTimeline timeline{clock, ExecTime{clock.now(), ExecTimeSource::kEnv}};
  std::unique_ptr<ModelService> service;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::Client> client;

  explicit Harness(LoadedModel model, bool ready = true) {
    timeline.mark("main");
    service = std::make_unique<ModelService>(std::move(model), ServiceOptions{}, clock, &timeline);
    service->set_ready(ready);
    RouteContext ctx;
    ctx.service = service.get();
    ctx.metrics = [this] { return render_metrics(*service, server.get(), timeline); };
    auto s = http::Server::listen({}, make_router(ctx));
    EXPECT_TRUE(s.is_ok());
    server = std::move(s).value();
    server->start();
    client = std::make_unique<http::Client>(http::ClientOptions{server->endpoint(), 10s});
  }
  http::ClientResponse post(const std::string& target, const std::string& body, http::Headers h = {}) {
    auto r = client->post(target, body, "application/json", std::move(h));
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(r).value() : http::ClientResponse{};
  }
  http::ClientResponse get(const std::string& target) {
    auto r = client->get(target);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(r).value() : http::ClientResponse{};
  }
};

LoadedModel row_sum_model() {
  LoadedModel m;
  m.name = "sum";
  m.version = "3";
  m.backend = std::make_unique<testing::RowSumBackend>();
  return m;
}

LoadedModel token_model() {
  LoadedModel m;
  m.name = "bert";
  m.backend = std::make_unique<testing::TokenCountBackend>();
  m.text_encoder = std::make_unique<testing::WordLengthEncoder>();
  m.max_text_tokens = 4;
  return m;
}

const char* kSumRequest =
    R"({"id":"7","inputs":[{"name":"x","datatype":"FP32","shape":[2,3],"data":[[1,2,3],[4,5,6.5]]}]})";

TEST(WorkerRoutes, JsonInference) {
  Harness h(row_sum_model());
  auto r = h.post("/v2/models/sum/infer", kSumRequest);
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = json::parse(r.body);
  EXPECT_EQ(doc["model_name"], "sum");
  EXPECT_EQ(doc["model_version"], "3");
  EXPECT_EQ(doc["id"], "7");
  ASSERT_EQ(doc["outputs"].size(), 2u);
  EXPECT_EQ(doc["outputs"][0]["name"], "y");
  EXPECT_EQ(doc["outputs"][0]["data"], json({6.0, 15.5}));
  EXPECT_EQ(doc["outputs"][1]["data"], json({2}));
  auto versioned = h.post("/v2/models/sum/versions/3/infer", kSumRequest);
  EXPECT_EQ(versioned.status, 200);
}

TEST(WorkerRoutes, BinaryInputsAndOutputs) {
  Harness h(row_sum_model());
  std::string header =
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"parameters":{"binary_data_size":12}}],)"
      R"("outputs":[{"name":"y","parameters":{"binary_data":true}}]})";
  float x[3] = {1.0f, 2.0f, 0.5f};
  std::string body = header + std::string(reinterpret_cast<char*>(x), 12);
  auto r = h.post("/v2/models/sum/infer", body, {{"Inference-Header-Content-Length", std::to_string(header.size())}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto len = std::stoul(std::string(r.header("inference-header-content-length").value_or("0")));
  auto doc = json::parse(r.body.substr(0, len));
  ASSERT_EQ(doc["outputs"].size(), 1u);
  EXPECT_EQ(doc["outputs"][0]["parameters"]["binary_data_size"], 4);
  float y;
  ASSERT_EQ(r.body.size(), len + 4);
  std::memcpy(&y, r.body.data() + len, 4);
  EXPECT_EQ(y, 3.5f);
}

TEST(WorkerRoutes, TextInIsTokenizedAndPadded) {
  Harness h(token_model());
  auto r = h.post("/v2/models/bert/infer",
                  R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[3],"data":["a bb","ccc","w x y z"]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = json::parse(r.body);
  // [CLS] words [SEP], truncated to 4 tokens.
  EXPECT_EQ(doc["outputs"][0]["data"], json({4, 3, 4}));
  EXPECT_EQ(doc["outputs"][1]["data"], json({1, 1, 1}));
  auto meta = json::parse(h.get("/v2/models/bert").body);
  EXPECT_EQ(meta["parameters"]["text_input"]["datatype"], "BYTES");
}

TEST(WorkerRoutes, BadInputsGetClearErrorsAndTheWorkerKeepsServing) {
  Harness h(row_sum_model());
  struct Case {
    const char* what;
    std::string target, body;
    int status;
    const char* mentions;
  };
  std::vector<Case> cases = {
      {"malformed json", "/v2/models/sum/infer", "{nope", 400, "JSON"},
      {"missing input", "/v2/models/sum/infer", R"({"inputs":[{"name":"z","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]})", 400, "unknown input 'z'"},
      {"wrong dtype", "/v2/models/sum/infer", R"({"inputs":[{"name":"x","datatype":"INT64","shape":[1,3],"data":[1,2,3]}]})", 400, "FP32"},
      {"wrong shape", "/v2/models/sum/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1,2]}]})", 400, "shape"},
      {"data/shape mismatch", "/v2/models/sum/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2]}]})", 400, "elements"},
      {"unknown output", "/v2/models/sum/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,3]}],"outputs":[{"name":"nope"}]})", 400, "unknown output"},
      {"text to a non-text model", "/v2/models/sum/infer", R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["hi"]}]})", 400, "BYTES"},
      {"unknown model", "/v2/models/other/infer", kSumRequest, 404, "unknown model"},
      {"unknown version", "/v2/models/sum/versions/9/infer", kSumRequest, 404, "version"},
  };
  for (const auto& c : cases) {
    auto r = h.post(c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    auto doc = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(doc.is_object() && doc.contains("error")) << c.what << ": " << r.body;
    EXPECT_NE(doc["error"].get<std::string>().find(c.mentions), std::string::npos) << c.what << ": " << r.body;
  }
  auto missing = h.post("/v2/models/sum/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,3]}],"parameters":{"binary_data_output":false}})");
  EXPECT_EQ(missing.status, 200);
  auto bad_header = h.post("/v2/models/sum/infer", kSumRequest, {{"Inference-Header-Content-Length", "x"}});
  EXPECT_EQ(bad_header.status, 400);
  auto ok = h.post("/v2/models/sum/infer", kSumRequest);
  EXPECT_EQ(ok.status, 200);
}

TEST(WorkerRoutes, TextModelReportsMissingTokenInputs) {
  Harness h(token_model());
  auto r = h.post("/v2/models/bert/infer",
                  R"({"inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,2],"data":[1,2]}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("missing input 'attention_mask'"), std::string::npos) << r.body;
  auto both = h.post("/v2/models/bert/infer",
                     R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]},)"
                     R"({"name":"input_ids","datatype":"INT64","shape":[1,2],"data":[1,2]}]})");
  EXPECT_EQ(both.status, 400);
}

TEST(WorkerRoutes, NotReadyUntilWarm) {
  Harness h(row_sum_model(), /*ready=*/false);
  EXPECT_EQ(h.get("/v2/health/live").status, 200);
  EXPECT_EQ(h.get("/v2/health/ready").status, 503);
  EXPECT_EQ(h.get("/v2/models/sum/ready").status, 503);
  EXPECT_EQ(h.get("/warm").status, 503);
  EXPECT_EQ(h.post("/v2/models/sum/infer", kSumRequest).status, 503);
  ASSERT_TRUE(h.service->warm_up(2).is_ok());
  h.service->set_ready(true);
  EXPECT_EQ(h.get("/v2/health/ready").status, 200);
  EXPECT_EQ(h.get("/v2/models/sum/ready").status, 200);
  EXPECT_EQ(h.get("/v2/models/other/ready").status, 404);
  EXPECT_EQ(h.get("/warm").status, 200);
  EXPECT_NE(h.get("/metrics").body.find("thaw_warmup_inferences_total{model=\"sum\",version=\"3\"} 2"),
            std::string::npos);
}

TEST(WorkerRoutes, AStoppingWorkerIsNotReadyButRunsTheRequestsItStillGets) {
  Harness h(row_sum_model());
  h.service->begin_stop();
  EXPECT_EQ(h.get("/v2/health/ready").status, 503);
  EXPECT_EQ(h.get("/warm").status, 503);
  EXPECT_EQ(h.get("/v2/models/sum/ready").status, 503);
  // A request in flight when the stop began (the listener is closed to new ones) is still run.
  EXPECT_EQ(h.post("/v2/models/sum/infer", kSumRequest).status, 200);
}

TEST(WorkerRoutes, MetadataEndpoints) {
  Harness h(row_sum_model());
  auto server = json::parse(h.get("/v2").body);
  EXPECT_EQ(server["name"], "thaw");
  auto meta = json::parse(h.get("/v2/models/sum/versions/3").body);
  EXPECT_EQ(meta["name"], "sum");
  EXPECT_EQ(meta["versions"], json({"3"}));
  EXPECT_EQ(meta["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(meta["inputs"][0]["shape"], json({-1, 3}));
  EXPECT_EQ(h.get("/v2/models/sum/versions/4").status, 404);
  auto config = json::parse(h.get("/v2/models/sum/config").body);
  EXPECT_EQ(config["input"][0]["data_type"], "TYPE_FP32");
  auto index = h.post("/v2/repository/index", "{}");
  EXPECT_EQ(json::parse(index.body)[0]["state"], "READY");
}

TEST(WorkerRoutes, MetricsCountOutcomesAndPhases) {
  Harness h(row_sum_model());
  h.timeline.mark("bundle_open");
  h.post("/v2/models/sum/infer", kSumRequest);
  h.post("/v2/models/sum/infer", "{bad");
  auto m = h.get("/metrics");
  EXPECT_EQ(m.header("content-type").value_or(""), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m.body.find("thaw_inference_requests_total{model=\"sum\",version=\"3\",outcome=\"success\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("thaw_inference_requests_total{model=\"sum\",version=\"3\",outcome=\"client_error\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("thaw_inference_duration_seconds_count{model=\"sum\",version=\"3\"} 2"), std::string::npos);
  EXPECT_NE(m.body.find("thaw_cold_start_phase_seconds{phase=\"bundle_open\"}"), std::string::npos);
  EXPECT_NE(m.body.find("thaw_cold_start_phase_seconds{phase=\"first_request\"}"), std::string::npos);
  EXPECT_NE(m.body.find("# TYPE thaw_http_requests_total counter"), std::string::npos);
}

}  // namespace
}  // namespace thaw::worker
