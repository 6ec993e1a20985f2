#include "gateway/audit_log.h"

#include <ctime>

#include <nlohmann/json.hpp>

namespace thaw::gateway {

bool is_admin_action(std::string_view method, std::string_view target) {
  if (method.empty() || method == "GET" || method == "HEAD") return false;
  return target.starts_with("/admin/") || target.starts_with("/v2/repository/");
}

std::string AuditLog::format(const http::RequestRecord& r, std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json j = {{"time", when},
                      {"remote", r.remote},
                      {"user", r.user.empty() ? (r.peer_cert.empty() ? "-" : std::string(r.peer_cert)) : std::string(r.user)},
                      {"method", r.method},
                      {"target", r.target},
                      {"status", r.status},
                      {"seconds", std::chrono::duration<double>(r.duration).count()}};
  // Invalid UTF-8 in a target becomes U+FFFD rather than an exception.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AuditLog::record(const http::RequestRecord& r) {
  if (!is_admin_action(r.method, r.target)) return;
  file_->write_line(format(r, std::chrono::system_clock::now()));
}

}  // namespace thaw::gateway
