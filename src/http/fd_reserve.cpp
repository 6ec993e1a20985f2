#include "http/fd_reserve.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/error.hpp>

namespace thaw::http {

bool out_of_descriptors(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

void DescriptorReserve::take() {
  if (!spare_.valid()) spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

bool DescriptorReserve::shed(int listen_fd, std::string_view response) {
  spare_.reset();
  UniqueFd client(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  const bool shed = client.valid();
  if (shed && !response.empty()) {
    // Read what the client already sent, so closing sends FIN rather than a reset that would
    // discard the answer on its side.
    char sink[4096];
    for (int i = 0; i < 16 && ::recv(client.get(), sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
    }
    // Best effort: a fresh socket's send buffer takes a short answer whole.
    (void)::send(client.get(), response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(client.get(), SHUT_WR);
  }
  client.reset();
  take();
  return shed;
}

}  // namespace thaw::http
