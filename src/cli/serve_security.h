// What `thaw serve` builds from its security settings (docs/security.md): the gateway's access
// rules with their secrets read from files, TLS, the access and audit logs; what SIGHUP reloads;
// and the warning for a listener others can reach without a token.
#pragma once

#include <memory>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "gateway/access.h"
#include "http/request_log.h"
#include "http/tls.h"
#include "manager/serve_config.h"

namespace thaw::cli {

struct ServeSecurity {
  std::unique_ptr<gateway::Access> access;
  std::shared_ptr<http::TlsContext> tls;        // null: plain HTTP
  std::shared_ptr<http::RequestLogs> logs;      // null: neither log
  std::vector<std::shared_ptr<http::LogFile>> files;
};

// Reads the token and key files and the TLS files, opens the logs. Errors name the file.
Result<ServeSecurity> build_serve_security(const manager::SecurityConfig& config, const Clock& clock);

// SIGHUP: re-reads the TLS certificate and key, reopens the log files (after rotation). Failures
// are logged; the previous certificate stays in use.
void reload_serve_security(ServeSecurity& security);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

// Logs, loudly, what a listener on a non-loopback address exposes without credentials.
void warn_if_exposed(const manager::ServeConfig& config);

}  // namespace thaw::cli
