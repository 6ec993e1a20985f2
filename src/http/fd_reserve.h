// What a server does when the process runs out of descriptors (nginx's technique): it keeps one
// spare descriptor open; when accept() fails with EMFILE or ENFILE it closes the spare, accepts
// the waiting connection, answers it 503 and closes it, then takes the spare again. Clients get an
// answer instead of hanging in the listen backlog, and the server says so in its log.
#pragma once

#include <string_view>

#include <boost/system/error_code.hpp>

#include "common/unique_fd.h"

namespace thaw::http {

// accept() failed for want of descriptors (or of kernel memory for one).
bool out_of_descriptors(const boost::system::error_code& ec);

class DescriptorReserve {
 public:
  DescriptorReserve() { take(); }
  // Sheds one connection waiting on `listen_fd`: accepts it with the spare's slot, sends it
  // `response` (when not empty) without blocking, and closes it. False when none could be taken;
  // then wait before accepting again, or the accept loop spins.
  bool shed(int listen_fd, std::string_view response);
  bool holding() const { return spare_.valid(); }

 private:
  void take();
  UniqueFd spare_;
};

}  // namespace thaw::http
