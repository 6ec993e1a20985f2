#include "worker/ready_descriptor.h"

#include <chrono>
#include <cstdio>

#include "protocol/line_io.h"
#include "protocol/worker_protocol.h"

namespace thaw::worker {
namespace {
// A pipe takes one short line at once; the bound only guards against a reader that stalls.
constexpr std::chrono::seconds kWriteLimit{5};
}  // namespace

void ReadyDescriptor::ready(const http::Endpoint& endpoint) { write(protocol::format_ready(endpoint)); }

void ReadyDescriptor::error(std::string_view message) { write(protocol::format_error(message)); }

void ReadyDescriptor::write(const std::string& line) {
  if (!fd_.valid()) return;
  Status s = protocol::write_line(fd_.get(), line, std::chrono::steady_clock::now() + kWriteLimit);
  if (!s.is_ok()) std::fprintf(stderr, "thaw run: the ready descriptor: %s\n", s.to_string().c_str());
  fd_.reset();
}

}  // namespace thaw::worker
