// The worker's end of the ready descriptor (docs/worker-protocol.md): it carries one line, the
// ready line or an error line, and is closed after it, so the supervisor also sees end-of-file.
#pragma once

#include <string_view>

#include "common/unique_fd.h"
#include "http/endpoint.h"

namespace thaw::worker {

class ReadyDescriptor {
 public:
  explicit ReadyDescriptor(int fd) : fd_(fd) {}  // -1: none, and every call does nothing

  // "ready v1 <endpoint>", then closes.
  void ready(const http::Endpoint& endpoint);
  // "error <message>", then closes.
  void error(std::string_view message);
  // Closes without a line (a zygote child must not hold the supervisor's pipe).
  void close() { fd_.reset(); }

 private:
  void write(const std::string& line);
  UniqueFd fd_;
};

}  // namespace thaw::worker
