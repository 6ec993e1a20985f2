// `thaw serve` configuration: one YAML file (thaw.yaml) where every key has a default, or none at
// all: then every bundle in ./models is served under its file name.
//
//   server:   {host, port, grpc_port, keda_scaler_port, threads, max_body_mb, memory_budget_mb, policy, profile,
//              ping_interval_ms, tick_interval_ms, runtime_dir, max_waiting, batch_shed_fraction,
//              max_connections, strict, max_connections_per_client, header_timeout_ms,
//              body_timeout_ms}
//   security: {admin_token_file, api_keys: [{name, key_file, tier, rate_per_second, burst}],
//              allowed_origins, allowed_hosts, access_log, audit_log, admin_listen,
//              tls_cert_file, tls_key_file, tls_client_ca_file, tls_client_cert}
//   models_dir: ./models          # every *.thaw here joins `models` with the defaults
//   store: {dir, budget_mb}       # models fetched from a `source` (default ./thaw-store, no budget)
//   defaults: {min_instances, reserved_instances, max_instances, concurrency, queue_limit,
//              queue_timeout_ms, request_timeout_ms, start_timeout_ms, worker_args}
//   models:   - {name, bundle | source (+ sha256, prefetch, pinned), student, ...any key of defaults}
//
// Unknown keys are errors, so a typo never silently falls back to a default.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace thaw::manager {

struct ModelConfig {
  std::string name;
  std::string bundle;                    // path of the .thaw file
  std::vector<std::string> worker_args;  // extra `thaw run` flags, e.g. ["--max-tokens", "256"]
  int min_instances = 0;       // warm instances kept for every tier (keep-warm pinged)
  int reserved_instances = 0;  // warm instances only premium requests use, kept at all times
  int max_instances = 4;       // reserved ones included
  int concurrency = 4;         // requests in flight per instance
  size_t queue_limit = 1024;   // requests waiting for an instance of this model (a few KiB each)
  std::chrono::milliseconds queue_timeout{30'000};    // longest wait for an instance
  std::chrono::milliseconds request_timeout{60'000};  // longest inference, once forwarded
  std::chrono::milliseconds start_timeout{60'000};    // longest worker start
  // Another model with the same inputs and outputs that answers while this one has no instance
  // (keep it warm with min_instances); "" for none.
  std::string student;
  // The version the bundle declares (its manifest); the only one served under the model's name.
  std::string version = "1";
  // Fetched from a registry instead of a file (docs/registry.md): `source` is
  // http://HOST:PORT/models/NAME/VERSION (a `thaw cache`, or any server holding bundles that honours
  // byte ranges); `bundle` is then the copy in the model store. `sha256`: the expected hash of the
  // whole file. `prefetch`: fetch at start instead of on the first request. `pinned`: the store's
  // disk budget never evicts it.
  std::string source;
  std::string sha256;
  bool prefetch = false;
  bool pinned = false;
};

// A model `thaw serve` was given but does not serve: its bundle failed the start-up check.
struct RefusedModel {
  std::string name;
  std::string bundle;
  std::string error;
};

// An API key for inference routes (docs/security.md).
struct ApiKeyConfig {
  std::string name;
  std::string key_file;            // the secret, first line of a file only its owner may read
  std::string tier = "standard";   // the best tier its requests may ask for
  double rate_per_second = 0;      // 0: no limit
  double burst = 0;                // 0: the rate
};

struct SecurityConfig {
  std::string admin_token_file;    // set: admin and repository routes need its token
  std::vector<ApiKeyConfig> api_keys;
  std::vector<std::string> allowed_origins;  // browser origins allowed on state-changing routes
  std::vector<std::string> allowed_hosts;    // Host names admin routes accept without a token
  std::string access_log;          // a line per request; "-": standard error; "": none
  std::string audit_log;           // a JSON line per admin action; "-": standard error; "": none
  std::string admin_listen;        // "HOST:PORT" or "unix:PATH": admin routes there only; "": main listener
  std::string tls_cert_file, tls_key_file;  // both set: HTTPS on the main listener
  std::string tls_client_ca_file;
  std::string tls_client_cert = "none";     // none | optional | require
};

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 8000;
  int grpc_port = -1;                // the gRPC inference service: -1 off, 0 a free port
  int keda_scaler_port = -1;         // KEDA's external scaler service (gRPC): -1 off, 0 a free port
  int threads = 0;                   // HTTP event loops (one thread each, one accepts); 0: cores + 1
  uint64_t max_body_bytes = 64 << 20;
  uint64_t memory_budget_bytes = 0;  // PSS of all instances and zygotes; 0: no budget
  std::string policy = "fixed10";    // policy spec (see `thaw sim --help`)
  std::string profile;               // rung profile YAML; "": built-in estimates
  std::chrono::milliseconds ping_interval{10'000};
  std::chrono::milliseconds tick_interval{100};
  std::string runtime_dir;           // worker sockets and logs; "": a fresh temporary directory
  size_t max_waiting = 10'000;       // requests waiting over all models (each costs a few KiB)
  size_t max_connections = 16'384;   // open client connections; beyond, 503 and close
  size_t max_connections_per_client = 1'024;  // from one client address; beyond, 503 and close
  std::chrono::milliseconds header_timeout{10'000};  // a request head must arrive within this
  std::chrono::milliseconds body_timeout{10'000};    // a request body may pause at most this long
  SecurityConfig security;
  double batch_shed_fraction = 0.5;  // batch is shed once a model's queue is this full
  std::string models_dir = "./models";
  // Where models with a `source` are kept, and the disk they may use there (0: no budget).
  std::string store_dir = "./thaw-store";
  uint64_t store_budget_bytes = 0;
  // Start an instance while its bundle is fetched, once what it reads has arrived (docs/registry.md).
  bool store_start_while_fetching = true;
  // Refuse to start when any model's bundle is bad; else the good ones are served and the bad
  // ones listed (refused).
  bool strict = false;
  ModelConfig defaults;
  std::vector<ModelConfig> models;
  std::vector<RefusedModel> refused;
};

// Parses YAML text; relative bundle paths and models_dir resolve against `base_dir`.
Result<ServeConfig> parse_serve_config(std::string_view yaml, const std::string& base_dir);
Result<ServeConfig> load_serve_config(const std::string& path);

// Adds every *.thaw file in config.models_dir that no model already uses, named by its stem, with
// the defaults. A missing directory is an error only when no model is configured at all.
Status add_models_from_dir(ServeConfig& config);

// Runs `check` on every model (it may fill in the model from its bundle, e.g. the version); a
// model it fails moves to config.refused, and a student that was refused is dropped from the
// models that named it. Errors, listing every refused model: any refused in strict mode, or none
// left to serve.
Status set_aside_bad_models(ServeConfig& config, const std::function<Status(ModelConfig&)>& check);

// Names are used in URLs and file names: letters, digits, '-', '_', '.'; unique; 1..128 bytes.
Status validate(const ServeConfig& config);

}  // namespace thaw::manager
