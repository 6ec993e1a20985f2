// The audit log: one JSON line per admin action (a request to /admin/* or /v2/repository/* that
// is not a GET or HEAD), allowed or refused, with who asked and from where:
//   {"time":"2026-11-30T07:35:12Z","remote":"127.0.0.1:50412","user":"admin","method":"POST",
//    "target":"/admin/models/minilm/drain","status":200,"seconds":0.41}
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "http/request_log.h"

namespace thaw::gateway {

// True for the requests the audit log records.
bool is_admin_action(std::string_view method, std::string_view target);

class AuditLog : public http::RequestLog {
 public:
  explicit AuditLog(std::shared_ptr<http::LogFile> file) : file_(std::move(file)) {}
  void record(const http::RequestRecord& r) override;
  // The line record() writes for an admin action, without its newline.
  static std::string format(const http::RequestRecord& r, std::chrono::system_clock::time_point now);

 private:
  std::shared_ptr<http::LogFile> file_;
};

}  // namespace thaw::gateway
