#include "cli/serve_security.h"

#include <boost/asio/ip/address.hpp>
#include <spdlog/spdlog.h>

#include "gateway/audit_log.h"
#include "http/credentials.h"
#include "http/endpoint.h"

namespace thaw::cli {

Result<ServeSecurity> build_serve_security(const manager::SecurityConfig& c, const Clock& clock) {
  ServeSecurity out;
  gateway::AccessOptions access;
  if (!c.admin_token_file.empty()) {
    auto token = http::read_secret_file(c.admin_token_file);
    if (!token.is_ok()) return token.status().with_context("security.admin_token_file");
    access.admin_token = std::move(token).value();
  }
  for (const auto& k : c.api_keys) {
    auto secret = http::read_secret_file(k.key_file);
    if (!secret.is_ok()) return secret.status().with_context(fmt::format("API key '{}'", k.name));
    auto tier = manager::parse_tier(k.tier);
    if (!tier.is_ok()) return tier.status().with_context(fmt::format("API key '{}'", k.name));
    if (!access.admin_token.empty() && http::secret_equals(*secret, access.admin_token))
      return make_error(Code::kInvalidArgument, "API key '{}' is the admin token; give it its own secret", k.name);
    access.api_keys.push_back(gateway::ApiKey{k.name, std::move(secret).value(), *tier, k.rate_per_second, k.burst});
  }
  access.allowed_origins = c.allowed_origins;
  access.allowed_hosts = c.allowed_hosts;
  out.access = std::make_unique<gateway::Access>(std::move(access), clock);

  if (!c.tls_cert_file.empty() || !c.tls_key_file.empty()) {
    http::TlsOptions o{c.tls_cert_file, c.tls_key_file, c.tls_client_ca_file, http::ClientCertMode::kNone};
    auto mode = http::parse_client_cert_mode(c.tls_client_cert);
    if (!mode.is_ok()) return mode.status();
    o.client_cert = *mode;
    auto tls = http::TlsContext::load(std::move(o));
    if (!tls.is_ok()) return tls.status();
    out.tls = std::move(tls).value();
  } else if (c.tls_client_cert != "none" || !c.tls_client_ca_file.empty()) {
    return make_error(Code::kInvalidArgument, "client certificates need TLS: set tls_cert_file and tls_key_file");
  }

  auto logs = std::make_shared<http::RequestLogs>();
  if (!c.access_log.empty()) {
    auto file = http::LogFile::open(c.access_log);
    if (!file.is_ok()) return file.status().with_context("security.access_log");
    std::shared_ptr<http::LogFile> f = std::move(file).value();
    out.files.push_back(f);
    logs->add(std::make_shared<http::AccessLog>(f));
  }
  if (!c.audit_log.empty()) {
    auto file = http::LogFile::open(c.audit_log);
    if (!file.is_ok()) return file.status().with_context("security.audit_log");
    std::shared_ptr<http::LogFile> f = std::move(file).value();
    out.files.push_back(f);
    logs->add(std::make_shared<gateway::AuditLog>(f));
  }
  if (!logs->empty()) out.logs = std::move(logs);
  return out;
}

void reload_serve_security(ServeSecurity& s) {
  if (s.tls) {
    Status t = s.tls->reload();
    if (t.is_ok())
      spdlog::info("SIGHUP: reloaded the TLS certificate {}", s.tls->options().cert_file);
    else
      spdlog::error("SIGHUP: keeping the previous TLS certificate: {}", t.to_string());
  }
  for (auto& f : s.files)
    if (f->path() != "-")
      if (Status r = f->reopen(); !r.is_ok()) spdlog::error("SIGHUP: {}", r.to_string());
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

void warn_if_exposed(const manager::ServeConfig& c) {
  const auto& s = c.security;
  // Where admin routes answer: their own listener, or the main one.
  std::string admin_host = c.host;
  if (!s.admin_listen.empty()) {
    auto ep = http::Endpoint::parse(s.admin_listen);
    admin_host = ep.is_ok() && !ep->is_unix() ? ep->host : "localhost";
  }
  if (s.admin_token_file.empty() && !is_loopback_host(admin_host)) {
    spdlog::warn("*****************************************************************************************");
    spdlog::warn("SECURITY: admin routes listen on {} (not loopback) WITHOUT an admin token: anyone who can reach",
                 admin_host);
    spdlog::warn("this address can drain, load and unload models. Set --admin-token-file (security.admin_token_file)");
    spdlog::warn("or move admin routes to a loopback address or Unix socket with --admin-listen.");
    spdlog::warn("*****************************************************************************************");
  }
  if (is_loopback_host(c.host)) return;
  if (s.api_keys.empty())
    spdlog::warn("listening on {} (not loopback) without API keys: inference is open to anyone who can reach it",
                 c.host);
  if (s.tls_cert_file.empty())
    spdlog::warn("listening on {} (not loopback) without TLS: tokens and data cross the network in clear text", c.host);
}

}  // namespace thaw::cli
