#include "loader/read_io.h"

#include <liburing.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "loader/parallel.h"

namespace thaw::loader {

Status pread_full(int fd, uint64_t offset, std::span<std::byte> dest) {
  size_t done = 0;
  while (done < dest.size()) {
    // Linux caps one read at 0x7ffff000 bytes; ask for at most 1 GiB at a time.
    size_t want = std::min<size_t>(dest.size() - done, size_t{1} << 30);
    ssize_t n = ::pread(fd, dest.data() + done, want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Code::kIo, "read of {} bytes at offset {} failed: {}", want, offset + done,
                        std::strerror(errno));
    }
    if (n == 0)
      return make_error(Code::kCorrupt, "file ends at offset {}, expected {} more bytes", offset + done,
                        dest.size() - done);
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

bool looks_uncached(int fd, uint64_t offset, uint64_t length) {
  if (length == 0) return false;
  alignas(64) char page[4096];
  for (uint64_t at : {offset, offset + length / 2, offset + length - 1}) {
    iovec iov{page, 1};
    ssize_t n = ::preadv2(fd, &iov, 1, static_cast<off_t>(at), RWF_NOWAIT);
    if (n < 0 && errno == EAGAIN) return true;
  }
  return false;
}

Status pread_parallel(int fd, uint64_t offset, std::span<std::byte> dest, int threads, uint64_t block) {
  if (block == 0) block = 8 << 20;
  const uint64_t blocks = (dest.size() + block - 1) / block;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  return parallel_for(threads, [&](int) -> Status {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return Status::ok();
      uint64_t b = next.fetch_add(1, std::memory_order_relaxed);
      if (b >= blocks) return Status::ok();
      uint64_t start = b * block;
      uint64_t len = std::min<uint64_t>(block, dest.size() - start);
      Status s = pread_full(fd, offset + start, dest.subspan(start, len));
      if (!s.is_ok()) {
        failed = true;
        return s;
      }
    }
  });
}

namespace {

// RAII io_uring instance.
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    if (ok_) io_uring_queue_exit(&ring_);
  }
  Status init(unsigned entries) {
    int rc = io_uring_queue_init(entries, &ring_, 0);
    if (rc < 0) return make_error(Code::kIo, "io_uring_queue_init failed: {}", std::strerror(-rc));
    ok_ = true;
    return Status::ok();
  }
  io_uring* get() { return &ring_; }

 private:
  io_uring ring_{};
  bool ok_ = false;
};

struct Request {
  uint64_t start = 0;  // into dest
  uint64_t done = 0;
  uint64_t length = 0;
};

}  // namespace

Status read_io_uring(int fd, uint64_t offset, std::span<std::byte> dest, uint64_t block, unsigned queue_depth) {
  if (block == 0) block = 8 << 20;
  if (queue_depth == 0) queue_depth = 4;
  Ring ring;
  THAW_TRY(ring.init(queue_depth));
  const uint64_t blocks = (dest.size() + block - 1) / block;
  std::vector<Request> requests(blocks);
  uint64_t next = 0, completed = 0;
  unsigned in_flight = 0;
  auto submit = [&](uint64_t b) -> Status {
    io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
    if (sqe == nullptr) return make_error(Code::kInternal, "io_uring submission queue full");
    Request& r = requests[b];
    size_t want = std::min<uint64_t>(r.length - r.done, uint64_t{1} << 30);
    io_uring_prep_read(sqe, fd, dest.data() + r.start + r.done, static_cast<unsigned>(want),
                       offset + r.start + r.done);
    io_uring_sqe_set_data64(sqe, b);
    ++in_flight;
    return Status::ok();
  };
  Status error;
  while (in_flight > 0 || (error.is_ok() && completed < blocks)) {
    while (error.is_ok() && in_flight < queue_depth && next < blocks) {
      requests[next].start = next * block;
      requests[next].length = std::min<uint64_t>(block, dest.size() - next * block);
      THAW_TRY(submit(next));
      ++next;
    }
    int rc = io_uring_submit_and_wait(ring.get(), 1);
    if (rc < 0 && rc != -EINTR) {
      // Nothing reaped can be trusted now; the ring's teardown cancels what is left.
      return make_error(Code::kIo, "io_uring_submit failed: {}", std::strerror(-rc));
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0, seen = 0;
    std::vector<uint64_t> resubmit;
    io_uring_for_each_cqe(ring.get(), head, cqe) {
      ++seen;
      --in_flight;
      uint64_t b = io_uring_cqe_get_data64(cqe);
      Request& r = requests[b];
      int res = cqe->res;
      if (res < 0) {
        if (error.is_ok())
          error = make_error(Code::kIo, "read at offset {} failed: {}", offset + r.start + r.done,
                             std::strerror(-res));
      } else if (res == 0) {
        if (error.is_ok())
          error = make_error(Code::kCorrupt, "file ends at offset {}, expected {} more bytes",
                             offset + r.start + r.done, r.length - r.done);
      } else {
        r.done += static_cast<uint64_t>(res);
        if (r.done < r.length) resubmit.push_back(b);
        else ++completed;
      }
    }
    io_uring_cq_advance(ring.get(), seen);
    // After an error, keep reaping until nothing is in flight so no read lands in freed memory.
    if (error.is_ok())
      for (uint64_t b : resubmit) THAW_TRY(submit(b));
  }
  return error;
}

}  // namespace thaw::loader
