// Reads a GGUF's weights into the page cache (readahead(2), no copy) on a thread of its own, in the order a forward pass
// uses them (the token embedding, the blocks by number, then the rest), while the first request
// computes on a lazy mapping of the same file (lazy_mapping.h). The file's own order is not that
// order: converters write the blocks sorted by name (blk.0, blk.1, blk.10, ..., blk.2, ...), so a
// plain sequential read would leave the compute waiting for block 2 while block 19 is read. Chunks
// already in the page cache are skipped (mincore), so a start from the page cache costs nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace thaw::engine {

class ForwardOrderRead {
 public:
  // The GGUF starts at `offset` in `path`. Best effort: a file it cannot read is left to the faults.
  ForwardOrderRead(const std::string& path, uint64_t offset);
  ~ForwardOrderRead();  // stops early and joins
  ForwardOrderRead(const ForwardOrderRead&) = delete;
  ForwardOrderRead& operator=(const ForwardOrderRead&) = delete;
  void join();  // waits for the end of the read

  // Bytes queued for reading and bytes found resident so far (tests, logs).
  uint64_t bytes_read() const { return read_.load(); }
  uint64_t bytes_resident() const { return resident_.load(); }

 private:
  void run(const std::string& path, uint64_t offset);
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> read_{0}, resident_{0};
  std::thread thread_;
};

}  // namespace thaw::engine
