#include "http/request_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace thaw::http {

Result<UniqueFd> open_log_file(const std::string& path) {
  if (path == "-") {
    UniqueFd fd(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0));
    if (!fd.valid()) return make_error(Code::kIo, "duplicating standard error: {}", std::strerror(errno));
    return fd;
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd.valid()) return make_error(Code::kIo, "opening log file {}: {}", path, std::strerror(errno));
  return fd;
}

Result<std::unique_ptr<LogFile>> LogFile::open(std::string path) {
  auto fd = open_log_file(path);
  if (!fd.is_ok()) return fd.status();
  return std::unique_ptr<LogFile>(new LogFile(std::move(path), std::move(fd).value()));
}

void LogFile::write_line(std::string line) {
  line.push_back('\n');
  // One write() per line with O_APPEND: whole lines, never interleaved. A full disk loses lines,
  // never requests.
  (void)!::write(fd_.get(), line.data(), line.size());
}

Status LogFile::reopen() {
  auto fd = open_log_file(path_);
  if (!fd.is_ok()) return fd.status();
  // dup2 swaps the file under the same descriptor number: writers on other threads never see a
  // closed descriptor.
  if (::dup3(fd->get(), fd_.get(), O_CLOEXEC) < 0)
    return make_error(Code::kIo, "reopening {}: {}", path_, std::strerror(errno));
  return Status::ok();
}

std::string log_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string AccessLog::format(const RequestRecord& r, std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[40];
  std::strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
  const double seconds = std::chrono::duration<double>(r.duration).count();
  std::string user = r.user.empty() ? (r.peer_cert.empty() ? "-" : log_escape(r.peer_cert)) : log_escape(r.user);
  for (char& c : user)
    if (c == ' ') c = '_';
  std::string request =
      r.method.empty() ? "-"
                       : fmt::format("{} {} HTTP/{}.{}", log_escape(r.method), log_escape(r.target), r.version / 10,
                                     r.version % 10);
  return fmt::format("{} - {} [{}] \"{}\" {} {} \"{}\" {:.6f}", r.remote.empty() ? "-" : r.remote, user, when, request,
                     r.status, r.bytes, r.user_agent.empty() ? "-" : log_escape(r.user_agent), seconds);
}

void AccessLog::record(const RequestRecord& r) { file_->write_line(format(r, std::chrono::system_clock::now())); }

}  // namespace thaw::http
