#include "manager/serve_config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "manager/tier.h"

namespace thaw::manager {
namespace {
namespace fs = std::filesystem;

class ServeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-config-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "models");
    touch(dir_ / "models" / "b.thaw");
    touch(dir_ / "models" / "a.thaw");
    touch(dir_ / "models" / "notes.txt");
  }
  void TearDown() override { fs::remove_all(dir_); }
  static void touch(const fs::path& p) { std::ofstream(p) << "x"; }
  fs::path dir_;
};

TEST_F(ServeConfigTest, EmptyConfigServesEveryBundleInTheModelsDirectory) {
  auto c = parse_serve_config("", dir_.string());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  c->models_dir = (dir_ / "models").string();
  ASSERT_TRUE(add_models_from_dir(*c).is_ok());
  ASSERT_EQ(c->models.size(), 2u);
  EXPECT_EQ(c->models[0].name, "a");
  EXPECT_EQ(c->models[1].name, "b");
  EXPECT_EQ(c->models[0].max_instances, ModelConfig{}.max_instances);
  EXPECT_TRUE(validate(*c).is_ok());
}

TEST_F(ServeConfigTest, ReadsEveryKeyAndResolvesPathsAgainstTheFile) {
  auto c = parse_serve_config(R"(
server: {port: 9000, threads: 16, memory_budget_mb: 512, policy: "fixed:keepalive_min=1", max_waiting: 8}
models_dir: models
defaults: {max_instances: 3, concurrency: 2, queue_timeout_ms: 1500}
models:
  - {name: fast, bundle: models/a.thaw, min_instances: 1, reserved_instances: 1, worker_args: ["--max-tokens", "64"]}
)",
                              dir_.string());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->memory_budget_bytes, 512u << 20);
  ASSERT_TRUE(add_models_from_dir(*c).is_ok());
  ASSERT_EQ(c->models.size(), 2u);  // "fast" plus b.thaw; a.thaw is already used
  const auto& fast = c->models[0];
  EXPECT_EQ(fast.name, "fast");
  EXPECT_EQ(fast.bundle, (dir_ / "models" / "a.thaw").string());
  EXPECT_EQ(fast.max_instances, 3);
  EXPECT_EQ(fast.concurrency, 2);
  EXPECT_EQ(fast.queue_timeout.count(), 1500);
  EXPECT_EQ(fast.worker_args, (std::vector<std::string>{"--max-tokens", "64"}));
  EXPECT_EQ(c->models[1].name, "b");
  EXPECT_EQ(c->models[1].concurrency, 2);
  EXPECT_TRUE(validate(*c).is_ok());
}

TEST_F(ServeConfigTest, RejectsUnknownKeysAndBadValuesWithTheirNames) {
  auto typo = parse_serve_config("server: {prot: 1}", dir_.string());
  ASSERT_FALSE(typo.is_ok());
  EXPECT_NE(typo.status().message().find("'prot'"), std::string::npos);
  auto model_typo = parse_serve_config("models: [{bundle: x.thaw, min_instance: 1}]", dir_.string());
  ASSERT_FALSE(model_typo.is_ok());
  EXPECT_NE(model_typo.status().message().find("min_instance"), std::string::npos);
  EXPECT_FALSE(parse_serve_config("server: {port: [1}", dir_.string()).is_ok());          // malformed YAML
  auto wrong_type = parse_serve_config("server: {port: eighty}", dir_.string());
  ASSERT_FALSE(wrong_type.is_ok());
  EXPECT_NE(wrong_type.status().message().find("'port' must be an integer"), std::string::npos)
      << wrong_type.status().message();
  auto negative = parse_serve_config("defaults: {queue_limit: -1}", dir_.string());
  ASSERT_FALSE(negative.is_ok());
  EXPECT_NE(negative.status().message().find("'queue_limit'"), std::string::npos);
  auto huge = parse_serve_config("server: {max_body_mb: 99999999999999}", dir_.string());
  ASSERT_FALSE(huge.is_ok());
  EXPECT_NE(huge.status().message().find("'max_body_mb' is too large"), std::string::npos);
  EXPECT_FALSE(parse_serve_config("models: [{name: x}]", dir_.string()).is_ok());         // no bundle
  EXPECT_FALSE(parse_serve_config("models: {name: x}", dir_.string()).is_ok());           // not a list
}

TEST_F(ServeConfigTest, ValidationNamesTheProblem) {
  ServeConfig c;
  c.models.push_back(ModelConfig{});
  c.models[0].name = "a/b";
  c.models[0].bundle = (dir_ / "models" / "a.thaw").string();
  auto s = validate(c);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("a/b"), std::string::npos);
  c.models[0].name = "a";
  c.models[0].min_instances = 3;
  c.models[0].reserved_instances = 2;
  c.models[0].max_instances = 4;
  EXPECT_FALSE(validate(c).is_ok());
  c.models[0].min_instances = 0;
  c.models[0].bundle = (dir_ / "missing.thaw").string();
  s = validate(c);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  c.models[0].bundle = (dir_ / "models" / "a.thaw").string();
  c.models.push_back(c.models[0]);
  EXPECT_FALSE(validate(c).is_ok());  // duplicate name
}

TEST_F(ServeConfigTest, TheKedaScalerPortIsReadAndRangeChecked) {
  auto c = parse_serve_config("server: {keda_scaler_port: 9100}", dir_.string());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->keda_scaler_port, 9100);
  EXPECT_EQ(parse_serve_config("", dir_.string())->keda_scaler_port, -1) << "off unless asked for";
  c->keda_scaler_port = 70000;
  auto s = validate(*c);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("keda_scaler_port"), std::string::npos) << s.message();
}

TEST_F(ServeConfigTest, NoModelsAnywhereSaysHowToMakeOne) {
  ServeConfig c;
  c.models_dir = (dir_ / "nothing").string();
  auto s = add_models_from_dir(c);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("thaw pack"), std::string::npos);
}

// Accepts a bundle whose file holds "x" and refuses any other, as a bundle check would.
Status check_bundle(ModelConfig& m) {
  std::ifstream in(m.bundle);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text == "x") return Status::ok();
  return make_error(Code::kCorrupt, "not a bundle ({} bytes)", text.size());
}

TEST_F(ServeConfigTest, BadBundlesAreSetAsideAndTheGoodOnesServed) {
  std::ofstream(dir_ / "models" / "empty.thaw");
  std::ofstream(dir_ / "models" / "junk.thaw") << "junk";
  auto c = parse_serve_config("models:\n  - {name: teacher, bundle: models/a.thaw, student: junk}\n", dir_.string());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  ASSERT_TRUE(add_models_from_dir(*c).is_ok());
  ASSERT_TRUE(validate(*c).is_ok());
  ASSERT_TRUE(set_aside_bad_models(*c, check_bundle).is_ok());
  std::vector<std::string> served;
  for (const auto& m : c->models) served.push_back(m.name);
  EXPECT_EQ(served, (std::vector<std::string>{"teacher", "b"}));
  EXPECT_TRUE(c->models[0].student.empty());  // its student was refused
  ASSERT_EQ(c->refused.size(), 2u);
  EXPECT_EQ(c->refused[0].name, "empty");
  EXPECT_NE(c->refused[0].error.find("0 bytes"), std::string::npos) << c->refused[0].error;
  EXPECT_EQ(c->refused[1].name, "junk");
  EXPECT_NE(c->refused[1].bundle.find("junk.thaw"), std::string::npos);
}

TEST_F(ServeConfigTest, StrictModeRefusesToStartListingEveryBadBundle) {
  std::ofstream(dir_ / "models" / "empty.thaw");
  std::ofstream(dir_ / "models" / "junk.thaw") << "junk";
  auto c = parse_serve_config("server: {strict: true}\n", dir_.string());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_TRUE(c->strict);
  ASSERT_TRUE(add_models_from_dir(*c).is_ok());
  Status s = set_aside_bad_models(*c, check_bundle);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("empty.thaw"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("junk.thaw"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("strict"), std::string::npos) << s.message();
}

TEST_F(ServeConfigTest, NoGoodBundleLeftIsAnError) {
  fs::remove(dir_ / "models" / "a.thaw");
  fs::remove(dir_ / "models" / "b.thaw");
  std::ofstream(dir_ / "models" / "empty.thaw").close();
  auto c = parse_serve_config("models_dir: models\n", dir_.string());
  ASSERT_TRUE(c.is_ok());
  Status added = add_models_from_dir(*c);
  ASSERT_TRUE(added.is_ok()) << added.to_string();
  Status s = set_aside_bad_models(*c, check_bundle);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("empty.thaw"), std::string::npos) << s.message();
}

TEST(TierTest, ParsesTheHeader) {
  EXPECT_EQ(*parse_tier(std::nullopt), Tier::kStandard);
  EXPECT_EQ(*parse_tier(std::string_view("")), Tier::kStandard);
  EXPECT_EQ(*parse_tier(std::string_view("Premium")), Tier::kPremium);
  EXPECT_EQ(*parse_tier(std::string_view("batch")), Tier::kBatch);
  auto bad = parse_tier(std::string_view("gold"));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("gold"), std::string::npos);
}

}  // namespace
}  // namespace thaw::manager

namespace thaw::manager {
namespace {

TEST(ServeConfigSecurity, ReadsTheSecuritySectionAndResolvesItsFiles) {
  auto c = parse_serve_config(R"(
server: {header_timeout_ms: 2000, body_timeout_ms: 3000, max_connections_per_client: 8}
security:
  admin_token_file: secrets/admin
  api_keys:
    - {name: alice, key_file: secrets/alice, tier: premium, rate_per_second: 5, burst: 10}
  allowed_origins: [https://console.example.com]
  allowed_hosts: [thaw.svc]
  access_log: "-"
  audit_log: logs/audit.jsonl
  admin_listen: unix:/run/thaw/admin.sock
  tls_cert_file: tls/cert.pem
  tls_key_file: tls/key.pem
  tls_client_cert: optional
)", "/etc/thaw");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->header_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c->body_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(c->max_connections_per_client, 8u);
  const SecurityConfig& s = c->security;
  EXPECT_EQ(s.admin_token_file, "/etc/thaw/secrets/admin");
  ASSERT_EQ(s.api_keys.size(), 1u);
  EXPECT_EQ(s.api_keys[0].key_file, "/etc/thaw/secrets/alice");
  EXPECT_EQ(s.api_keys[0].tier, "premium");
  EXPECT_EQ(s.api_keys[0].rate_per_second, 5);
  EXPECT_EQ(s.api_keys[0].burst, 10);
  EXPECT_EQ(s.allowed_origins, std::vector<std::string>{"https://console.example.com"});
  EXPECT_EQ(s.access_log, "-") << "standard error is not a path";
  EXPECT_EQ(s.audit_log, "/etc/thaw/logs/audit.jsonl");
  EXPECT_EQ(s.admin_listen, "unix:/run/thaw/admin.sock");
  EXPECT_EQ(s.tls_cert_file, "/etc/thaw/tls/cert.pem");
  EXPECT_EQ(s.tls_client_cert, "optional");
}

TEST(ServeConfigSecurity, RefusesUnknownKeysAndKeysWithoutAFile) {
  auto typo = parse_serve_config("security: {admin_token: x}", "/");
  ASSERT_FALSE(typo.is_ok());
  EXPECT_NE(typo.status().message().find("admin_token"), std::string::npos);
  auto no_file = parse_serve_config("security: {api_keys: [{name: a}]}", "/");
  ASSERT_FALSE(no_file.is_ok());
  EXPECT_NE(no_file.status().message().find("key_file"), std::string::npos);
}

}  // namespace
}  // namespace thaw::manager

namespace thaw::manager {
namespace {

TEST_F(ServeConfigTest, AModelFromASourceNeedsNoFileAndTheStoreIsRead) {
  auto c = parse_serve_config(R"(
store: {dir: cache/store, budget_mb: 2048}
models:
  - source: http://127.0.0.1:8090/models/minilm/3
    sha256: "sha256:abc"
    prefetch: true
    pinned: true
  - {name: other, source: "http://registry/b/other/v2.thaw"}
)",
                              dir_.string());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->store_dir, (dir_ / "cache" / "store").string());
  EXPECT_EQ(c->store_budget_bytes, uint64_t{2048} << 20);
  ASSERT_EQ(c->models.size(), 2u);
  EXPECT_EQ(c->models[0].name, "minilm");  // NAME/VERSION
  EXPECT_TRUE(c->models[0].prefetch && c->models[0].pinned);
  EXPECT_EQ(c->models[0].sha256, "sha256:abc");
  EXPECT_TRUE(c->models[0].bundle.empty());
  EXPECT_TRUE(validate(*c).is_ok()) << "no file to check yet";
  // Exactly one of bundle and source; the fetch keys go with a source; store keys are checked.
  EXPECT_FALSE(parse_serve_config("models: [{name: m, bundle: a.thaw, source: 'http://h/m/1'}]", dir_.string()).is_ok());
  EXPECT_FALSE(parse_serve_config("models: [{name: m}]", dir_.string()).is_ok());
  EXPECT_FALSE(parse_serve_config("models: [{name: m, bundle: a.thaw, prefetch: true}]", dir_.string()).is_ok());
  EXPECT_FALSE(parse_serve_config("store: {size: 3}", dir_.string()).is_ok());
  EXPECT_FALSE(parse_serve_config("store: {budget_mb: -1}", dir_.string()).is_ok());
  // Start while fetching: on unless turned off.
  EXPECT_TRUE(c->store_start_while_fetching);
  auto off = parse_serve_config("store: {start_while_fetching: false}", dir_.string());
  ASSERT_TRUE(off.is_ok()) << off.status().to_string();
  EXPECT_FALSE(off->store_start_while_fetching);
  auto bad = parse_serve_config("store: {start_while_fetching: maybe}", dir_.string());
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("true or false"), std::string::npos) << bad.status().to_string();
}

}  // namespace
}  // namespace thaw::manager
