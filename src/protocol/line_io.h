// Bounded line I/O on the worker protocol's descriptors (the ready pipe, the zygote's control
// connections), for both sides. Every call ends by its deadline; descriptors may be blocking or
// not. Each of these channels carries one line per direction, so bytes after the newline are
// not kept.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "protocol/worker_protocol.h"

namespace thaw::protocol {

using Deadline = std::chrono::steady_clock::time_point;

// Reads one '\n'-terminated line and returns it without the '\n' (or a "\r\n"). Errors:
// kDeadlineExceeded (no whole line by `deadline`), kUnavailable (end of file or a reset
// connection first), kCorrupt (no newline within `max_bytes`), kIo (poll or read failed).
Result<std::string> read_line(int fd, Deadline deadline, size_t max_bytes = kMaxLineBytes);

// Writes all of `text` (a socket without raising SIGPIPE). Errors: kUnavailable (the reader has
// gone), kDeadlineExceeded, kIo.
Status write_line(int fd, std::string_view text, Deadline deadline);

}  // namespace thaw::protocol
