#include "protocol/line_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace thaw::protocol {
namespace {

// Milliseconds left before `deadline` for poll(), rounded up; 0 once it has passed.
int ms_left(Deadline deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

// Waits for `events` on `fd`: 1 when ready, 0 at the deadline, -1 (errno set) on failure.
int wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    int left = ms_left(deadline);
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, left);
    if (rc < 0 && errno == EINTR) continue;
    if (rc != 0 || left == 0) return rc;
  }
}

}  // namespace

Result<std::string> read_line(int fd, Deadline deadline, size_t max_bytes) {
  std::string line;
  char buf[512];
  for (;;) {
    int rc = wait_for(fd, POLLIN, deadline);
    if (rc < 0) return make_error(Code::kIo, "poll: {}", std::strerror(errno));
    if (rc == 0)
      return make_error(Code::kDeadlineExceeded, "no whole line in time ({} bytes so far)", line.size());
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && errno != ECONNRESET) return make_error(Code::kIo, "read: {}", std::strerror(errno));
    if (n <= 0)
      return make_error(Code::kUnavailable, "closed before a whole line ({} bytes so far)", line.size());
    line.append(buf, static_cast<size_t>(n));
    if (size_t nl = line.find('\n'); nl != std::string::npos && nl < max_bytes) {
      line.resize(nl > 0 && line[nl - 1] == '\r' ? nl - 1 : nl);
      return line;
    }
    if (line.size() >= max_bytes) return make_error(Code::kCorrupt, "a line longer than {} bytes", max_bytes);
  }
}

Status write_line(int fd, std::string_view text, Deadline deadline) {
  bool socket = true;
  while (!text.empty()) {
    ssize_t n =
        socket ? ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) : ::write(fd, text.data(), text.size());
    if (n < 0 && errno == ENOTSOCK && socket) {
      socket = false;  // a pipe: a reader that has gone raises SIGPIPE unless it is ignored
      continue;
    }
    if (n > 0) {
      text.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
      return make_error(Code::kUnavailable, "the reader has gone: {}", std::strerror(errno));
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return make_error(Code::kIo, "write: {}", std::strerror(errno));
    int rc = wait_for(fd, POLLOUT, deadline);
    if (rc < 0) return make_error(Code::kIo, "poll: {}", std::strerror(errno));
    if (rc == 0) return make_error(Code::kDeadlineExceeded, "the line was not taken in time");
  }
  return Status::ok();
}

}  // namespace thaw::protocol
