// One record per request a server answered (or gave up on), for access and audit logs. The server
// builds records only when ServerOptions::request_log is set: logging off costs nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace thaw::http {

struct RequestRecord {
  std::string_view remote;      // the client: "203.0.113.7:50412", "[::1]:4000", "unix"
  std::string_view user;        // who the handler found the caller to be (Responder::set_user); "" unknown
  std::string_view peer_cert;   // subject of the client's verified TLS certificate; "" none
  std::string_view method;      // "" when the request was refused before its head was read
  std::string_view target;
  unsigned version = 11;
  int status = 0;               // 499: the client left before its answer; 408: it was too slow
  uint64_t bytes = 0;           // response body bytes sent
  std::chrono::steady_clock::duration duration{};  // from the request's first byte to its answer's last
  std::string_view user_agent;
};

class RequestLog {
 public:
  virtual ~RequestLog() = default;
  // Called once per request, on the connection's thread: keep it short.
  virtual void record(const RequestRecord& r) = 0;
};

// Opens `path` for appending ("-": standard error), creating it with mode 0640.
Result<UniqueFd> open_log_file(const std::string& path);

// Appends one line to a log file; lines of concurrent writers never interleave (O_APPEND, one
// write each). reopen() after log rotation (SIGHUP) swaps the descriptor without a gap.
class LogFile {
 public:
  static Result<std::unique_ptr<LogFile>> open(std::string path);
  void write_line(std::string line);  // appends '\n'
  Status reopen();
  const std::string& path() const { return path_; }

 private:
  LogFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

// The access log: one line per request in the combined log format, with the duration in seconds
// and the caller's name where known:
//   127.0.0.1:50412 - alice [30/Nov/2026:07:35:12 +0000] "POST /v2/models/m/infer HTTP/1.1" 200 1234 "curl/8.0" 0.002
class AccessLog : public RequestLog {
 public:
  explicit AccessLog(std::shared_ptr<LogFile> file) : file_(std::move(file)) {}
  void record(const RequestRecord& r) override;
  // The line record() writes, without its newline.
  static std::string format(const RequestRecord& r, std::chrono::system_clock::time_point now);

 private:
  std::shared_ptr<LogFile> file_;
};

// Several logs as one (an access log and an audit log on the same listener).
class RequestLogs : public RequestLog {
 public:
  void add(std::shared_ptr<RequestLog> log) {
    if (log) logs_.push_back(std::move(log));
  }
  bool empty() const { return logs_.empty(); }
  void record(const RequestRecord& r) override {
    for (auto& l : logs_) l->record(r);
  }

 private:
  std::vector<std::shared_ptr<RequestLog>> logs_;
};

// Escapes a value for a quoted log field: quotes, backslashes and bytes outside printable ASCII
// become \" \\ \xHH, so a client cannot forge log lines.
std::string log_escape(std::string_view s);

}  // namespace thaw::http
