#include "manager/serve_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include <yaml-cpp/yaml.h>

namespace thaw::manager {
namespace fs = std::filesystem;

namespace {

Status check_keys(const YAML::Node& node, std::string_view where, std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) return make_error(Code::kInvalidArgument, "{}: expected a mapping", where);
  for (const auto& kv : node) {
    auto key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return make_error(Code::kInvalidArgument, "{}: unknown key '{}' (known: {})", where, key, list);
    }
  }
  return Status::ok();
}

// yaml-cpp's conversion errors say only "bad conversion"; this one names the key.
template <typename T>
T as(const YAML::Node& node, const char* key, const char* what) {
  try {
    return node[key].as<T>();
  } catch (const YAML::BadConversion& e) {
    throw YAML::Exception(e.mark, fmt::format("'{}' must be {}", key, what));
  }
}

template <typename T>
constexpr const char* kind_of() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_same_v<T, std::vector<std::string>>) return "a list of strings";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_unsigned_v<T>) return "a non-negative integer";
  else return "an integer";
}

template <typename T>
void read(const YAML::Node& node, const char* key, T& out) {
  if (node[key]) out = as<T>(node, key, kind_of<T>());
}

void read_ms(const YAML::Node& node, const char* key, std::chrono::milliseconds& out) {
  if (node[key]) out = std::chrono::milliseconds(as<int64_t>(node, key, "an integer (milliseconds)"));
}

// Megabytes to bytes, refusing values whose byte count would not fit.
uint64_t read_mb(const YAML::Node& node, const char* key) {
  auto mb = as<uint64_t>(node, key, "a non-negative integer (MiB)");
  if (mb > (uint64_t{1} << 40)) throw YAML::Exception(node[key].Mark(), fmt::format("'{}' is too large", key));
  return mb << 20;
}

std::string resolve(const std::string& base, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base) / path).lexically_normal().string();
}

Status read_model_keys(const YAML::Node& node, std::string_view where, ModelConfig& m, bool with_identity) {
  if (with_identity) {
    THAW_TRY(check_keys(node, where,
                        {"name", "bundle", "source", "sha256", "prefetch", "pinned", "student", "min_instances", "reserved_instances", "max_instances", "concurrency",
                         "queue_limit", "queue_timeout_ms", "request_timeout_ms", "start_timeout_ms",
                         "worker_args"}));
    read(node, "name", m.name);
    read(node, "bundle", m.bundle);
    read(node, "source", m.source);
    read(node, "sha256", m.sha256);
    read(node, "prefetch", m.prefetch);
    read(node, "pinned", m.pinned);
    read(node, "student", m.student);
  } else {
    THAW_TRY(check_keys(node, where,
                        {"min_instances", "reserved_instances", "max_instances", "concurrency", "queue_limit",
                         "queue_timeout_ms", "request_timeout_ms", "start_timeout_ms", "worker_args"}));
  }
  read(node, "min_instances", m.min_instances);
  read(node, "reserved_instances", m.reserved_instances);
  read(node, "max_instances", m.max_instances);
  read(node, "concurrency", m.concurrency);
  read(node, "queue_limit", m.queue_limit);
  read_ms(node, "queue_timeout_ms", m.queue_timeout);
  read_ms(node, "request_timeout_ms", m.request_timeout);
  read_ms(node, "start_timeout_ms", m.start_timeout);
  read(node, "worker_args", m.worker_args);
  return Status::ok();
}

Status read_security(const YAML::Node& s, const std::string& base_dir, SecurityConfig& out) {
  THAW_TRY(check_keys(s, "security",
                      {"admin_token_file", "api_keys", "allowed_origins", "allowed_hosts", "access_log", "audit_log",
                       "admin_listen", "tls_cert_file", "tls_key_file", "tls_client_ca_file", "tls_client_cert"}));
  read(s, "admin_token_file", out.admin_token_file);
  read(s, "allowed_origins", out.allowed_origins);
  read(s, "allowed_hosts", out.allowed_hosts);
  read(s, "access_log", out.access_log);
  read(s, "audit_log", out.audit_log);
  read(s, "admin_listen", out.admin_listen);
  read(s, "tls_cert_file", out.tls_cert_file);
  read(s, "tls_key_file", out.tls_key_file);
  read(s, "tls_client_ca_file", out.tls_client_ca_file);
  read(s, "tls_client_cert", out.tls_client_cert);
  for (std::string* path : {&out.admin_token_file, &out.tls_cert_file, &out.tls_key_file, &out.tls_client_ca_file})
    *path = resolve(base_dir, *path);
  for (std::string* path : {&out.access_log, &out.audit_log})
    if (*path != "-") *path = resolve(base_dir, *path);
  if (auto keys = s["api_keys"]) {
    if (!keys.IsSequence()) return make_error(Code::kInvalidArgument, "security.api_keys: expected a list");
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string where = fmt::format("security.api_keys[{}]", i);
      THAW_TRY(check_keys(keys[i], where, {"name", "key_file", "tier", "rate_per_second", "burst"}));
      ApiKeyConfig k;
      read(keys[i], "name", k.name);
      read(keys[i], "key_file", k.key_file);
      read(keys[i], "tier", k.tier);
      read(keys[i], "rate_per_second", k.rate_per_second);
      read(keys[i], "burst", k.burst);
      if (k.name.empty() || k.key_file.empty())
        return make_error(Code::kInvalidArgument, "{}: 'name' and 'key_file' are required", where);
      if (k.rate_per_second < 0 || k.burst < 0)
        return make_error(Code::kInvalidArgument, "{}: rate_per_second and burst must be >= 0", where);
      k.key_file = resolve(base_dir, k.key_file);
      out.api_keys.push_back(std::move(k));
    }
  }
  return Status::ok();
}

Result<ServeConfig> parse_node(const YAML::Node& root, const std::string& base_dir) {
  ServeConfig c;
  if (!root || root.IsNull()) return c;
  THAW_TRY(check_keys(root, "thaw.yaml", {"server", "security", "models_dir", "store", "defaults", "models"}));
  if (auto s = root["server"]) {
    THAW_TRY(check_keys(s, "server",
                        {"host", "port", "grpc_port", "keda_scaler_port", "threads", "max_body_mb", "memory_budget_mb", "policy", "profile",
                         "ping_interval_ms", "tick_interval_ms", "runtime_dir", "max_waiting",
                         "batch_shed_fraction", "max_connections", "strict", "max_connections_per_client",
                         "header_timeout_ms", "body_timeout_ms"}));
    read(s, "host", c.host);
    read(s, "port", c.port);
    read(s, "grpc_port", c.grpc_port);
    read(s, "keda_scaler_port", c.keda_scaler_port);
    read(s, "threads", c.threads);
    if (s["max_body_mb"]) c.max_body_bytes = read_mb(s, "max_body_mb");
    if (s["memory_budget_mb"]) c.memory_budget_bytes = read_mb(s, "memory_budget_mb");
    read(s, "policy", c.policy);
    read(s, "profile", c.profile);
    c.profile = resolve(base_dir, c.profile);
    read_ms(s, "ping_interval_ms", c.ping_interval);
    read_ms(s, "tick_interval_ms", c.tick_interval);
    read(s, "runtime_dir", c.runtime_dir);
    read(s, "max_waiting", c.max_waiting);
    read(s, "batch_shed_fraction", c.batch_shed_fraction);
    read(s, "max_connections", c.max_connections);
    read(s, "strict", c.strict);
    read(s, "max_connections_per_client", c.max_connections_per_client);
    read_ms(s, "header_timeout_ms", c.header_timeout);
    read_ms(s, "body_timeout_ms", c.body_timeout);
  }
  if (auto s = root["security"]) THAW_TRY(read_security(s, base_dir, c.security));
  read(root, "models_dir", c.models_dir);
  c.models_dir = resolve(base_dir, c.models_dir);
  c.store_dir = resolve(base_dir, c.store_dir);
  if (auto st = root["store"]) {
    THAW_TRY(check_keys(st, "store", {"dir", "budget_mb", "start_while_fetching"}));
    read(st, "start_while_fetching", c.store_start_while_fetching);
    read(st, "dir", c.store_dir);
    c.store_dir = resolve(base_dir, c.store_dir);
    if (st["budget_mb"]) c.store_budget_bytes = read_mb(st, "budget_mb");
  }
  if (auto d = root["defaults"]) THAW_TRY(read_model_keys(d, "defaults", c.defaults, false));
  if (auto ms = root["models"]) {
    if (!ms.IsSequence()) return make_error(Code::kInvalidArgument, "models: expected a list");
    for (size_t i = 0; i < ms.size(); ++i) {
      ModelConfig m = c.defaults;
      THAW_TRY(read_model_keys(ms[i], fmt::format("models[{}]", i), m, true));
      if (m.bundle.empty() == m.source.empty())
        return make_error(Code::kInvalidArgument, "models[{}]: give either 'bundle' (a file) or 'source' (a URL)", i);
      if (!m.source.empty()) {
        // .../NAME/VERSION: the model is NAME unless named.
        const fs::path p(m.source);
        if (m.name.empty()) m.name = p.parent_path().filename().string();
        if (m.name.empty() || m.name == "http:")
          return make_error(Code::kInvalidArgument, "models[{}]: name it, or give a source ending in NAME/VERSION", i);
        c.models.push_back(std::move(m));
        continue;
      }
      if (!m.sha256.empty() || m.prefetch)
        return make_error(Code::kInvalidArgument, "models[{}]: 'sha256' and 'prefetch' go with 'source'", i);
      m.bundle = resolve(base_dir, m.bundle);
      if (m.name.empty()) m.name = fs::path(m.bundle).stem().string();
      c.models.push_back(std::move(m));
    }
  }
  return c;
}

}  // namespace

Result<ServeConfig> parse_serve_config(std::string_view yaml, const std::string& base_dir) {
  try {
    return parse_node(YAML::Load(std::string(yaml)), base_dir);
  } catch (const YAML::Exception& e) {
    return make_error(Code::kInvalidArgument, "thaw.yaml: {}", e.what());
  }
}

Result<ServeConfig> load_serve_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(Code::kNotFound, "cannot read config '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  auto base = fs::absolute(fs::path(path)).parent_path().string();
  auto c = parse_serve_config(text.str(), base);
  if (!c.is_ok()) return c.status().with_context(path);
  return c;
}

Status add_models_from_dir(ServeConfig& config) {
  std::error_code ec;
  if (!fs::is_directory(config.models_dir, ec)) {
    if (config.models.empty())
      return make_error(Code::kNotFound,
                        "no models: '{}' is not a directory and no config lists models; pack one with "
                        "`thaw pack MODEL_FILE -o models/NAME.thaw` or pass --models DIR",
                        config.models_dir);
    return Status::ok();
  }
  std::set<std::string> used_bundles, used_names;
  for (const auto& m : config.models) {
    used_bundles.insert(fs::weakly_canonical(m.bundle, ec).string());
    used_names.insert(m.name);
  }
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(config.models_dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".thaw") found.push_back(entry.path());
  std::sort(found.begin(), found.end());
  for (const auto& p : found) {
    if (used_bundles.count(fs::weakly_canonical(p, ec).string())) continue;
    ModelConfig m = config.defaults;
    m.name = p.stem().string();
    m.bundle = p.string();
    if (used_names.count(m.name)) continue;
    config.models.push_back(std::move(m));
  }
  if (config.models.empty())
    return make_error(Code::kNotFound, "no models: '{}' holds no *.thaw bundle; pack one with "
                      "`thaw pack MODEL_FILE -o {}/NAME.thaw`", config.models_dir, config.models_dir);
  return Status::ok();
}

Status set_aside_bad_models(ServeConfig& config, const std::function<Status(ModelConfig&)>& check) {
  std::vector<ModelConfig> good;
  for (ModelConfig& m : config.models) {
    Status s = check(m);
    if (s.is_ok()) good.push_back(std::move(m));
    else config.refused.push_back({m.name, m.bundle, s.to_string()});
  }
  config.models = std::move(good);
  for (ModelConfig& m : config.models) {
    if (m.student.empty()) continue;
    for (const RefusedModel& r : config.refused)
      if (r.name == m.student) m.student.clear();
  }
  if (config.refused.empty()) return Status::ok();
  std::string list;
  for (const RefusedModel& r : config.refused)
    list += fmt::format("\n  model '{}' ({}): {}; check it with `thaw verify {}`", r.name, r.bundle, r.error, r.bundle);
  if (config.strict)
    return make_error(Code::kInvalidArgument, "{} bad model(s) and server.strict is set:{}", config.refused.size(), list);
  if (config.models.empty())
    return make_error(Code::kNotFound, "no model can be served; {} bad model(s):{}", config.refused.size(), list);
  return Status::ok();
}

Status validate(const ServeConfig& c) {
  if (c.port < 0 || c.port > 65535) return make_error(Code::kInvalidArgument, "server.port {} is out of range", c.port);
  if (c.grpc_port < -1 || c.grpc_port > 65535)
    return make_error(Code::kInvalidArgument, "server.grpc_port {} is out of range (-1: off, 0: a free port)",
                      c.grpc_port);
  if (c.keda_scaler_port < -1 || c.keda_scaler_port > 65535)
    return make_error(Code::kInvalidArgument, "server.keda_scaler_port {} is out of range (-1: off, 0: a free port)",
                      c.keda_scaler_port);
  if (c.threads != 0 && (c.threads < 2 || c.threads > 1024))
    return make_error(Code::kInvalidArgument, "server.threads must be 2..1024 (or 0: one per core, plus one), not {}",
                      c.threads);
  if (c.max_waiting < 1) return make_error(Code::kInvalidArgument, "server.max_waiting must be >= 1");
  if (c.max_connections < 1 || c.max_connections > (size_t{1} << 22))
    return make_error(Code::kInvalidArgument, "server.max_connections must be 1..4194304, not {}", c.max_connections);
  if (c.header_timeout.count() <= 0 || c.body_timeout.count() <= 0)
    return make_error(Code::kInvalidArgument, "server.header_timeout_ms and server.body_timeout_ms must be > 0");
  if (c.batch_shed_fraction <= 0 || c.batch_shed_fraction > 1)
    return make_error(Code::kInvalidArgument, "server.batch_shed_fraction must be in (0, 1]");
  std::set<std::string> names;
  for (const auto& m : c.models) {
    if (m.name.empty() || m.name.size() > 128 ||
        !std::all_of(m.name.begin(), m.name.end(),
                     [](unsigned char ch) { return std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.'; }))
      return make_error(Code::kInvalidArgument, "model name '{}': use 1-128 letters, digits, '-', '_' or '.'", m.name);
    if (!names.insert(m.name).second) return make_error(Code::kInvalidArgument, "model '{}' is listed twice", m.name);
    if (m.max_instances < 1 || m.concurrency < 1)
      return make_error(Code::kInvalidArgument, "model '{}': max_instances and concurrency must be >= 1", m.name);
    if (m.min_instances < 0 || m.reserved_instances < 0 || m.min_instances + m.reserved_instances > m.max_instances)
      return make_error(Code::kInvalidArgument,
                        "model '{}': min_instances + reserved_instances ({}) exceeds max_instances ({})", m.name,
                        m.min_instances + m.reserved_instances, m.max_instances);
    if (m.queue_limit < 1) return make_error(Code::kInvalidArgument, "model '{}': queue_limit must be >= 1", m.name);
    if (!m.student.empty()) {
      auto student = std::find_if(c.models.begin(), c.models.end(), [&](const ModelConfig& o) { return o.name == m.student; });
      if (student == c.models.end())
        return make_error(Code::kInvalidArgument, "model '{}': student '{}' is not a configured model", m.name, m.student);
      if (student->name == m.name || !student->student.empty())
        return make_error(Code::kInvalidArgument, "model '{}': its student '{}' must be another model without a student",
                          m.name, m.student);
    }
    std::error_code ec;
    if (m.source.empty() && !fs::is_regular_file(m.bundle, ec))
      return make_error(Code::kNotFound, "model '{}': bundle '{}' does not exist", m.name, m.bundle);
  }
  return Status::ok();
}

}  // namespace thaw::manager
