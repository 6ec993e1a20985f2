// A response body sent piece by piece through an http::Responder with back-pressure: the next piece
// is produced only after the previous one's WriteDone, so a slow client makes its producer wait
// without holding a thread, and a response keeps at most one piece in memory. Producing a piece
// never blocks; a piece that needs a wait (a chunk still on its way from the upstream) is waited for
// on a WorkerPool, never on a server loop. A client that goes away, or stops reading for the
// server's write timeout, fails the piece in flight and the stream ends there, releasing what its
// source holds.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cache/worker_pool.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "http/responder.h"

namespace thaw::cache {

// One piece of a body: `bytes`, or `length` bytes of `file` from `offset` (sent by sendfile).
struct Piece {
  std::string bytes;
  UniqueFd file;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t size() const { return file.valid() ? length : bytes.size(); }
};

// Where a streamed body's pieces come from, in order. A stream calls it from one thread at a time.
class PieceSource {
 public:
  virtual ~PieceSource() = default;
  // Whether next() can run now without waiting.
  virtual bool ready() const = 0;
  // Waits until ready(); may block, so the stream calls it on its pool only.
  virtual Status wait() = 0;
  // The next piece (requires ready()), or nullopt once the body is complete.
  virtual Result<std::optional<Piece>> next() = 0;
};

// `length` bytes of an open file from `offset`, in pieces of at most `max_piece` bytes.
class FileSource final : public PieceSource {
 public:
  FileSource(UniqueFd file, uint64_t offset, uint64_t length, uint64_t max_piece)
      : file_(std::move(file)), pos_(offset), end_(offset + length), max_piece_(max_piece) {}
  bool ready() const override { return true; }
  Status wait() override { return Status::ok(); }
  Result<std::optional<Piece>> next() override;

 private:
  UniqueFd file_;
  uint64_t pos_, end_, max_piece_;
};

// What every stream of one server shares. Must outlive its streams: stop the server, then destroy
// the pool (which joins its threads), then this.
struct StreamContext {
  WorkerPool& pool;
  std::atomic<uint64_t>* bytes_sent = nullptr;  // counts body bytes handed to the kernel
  std::atomic<size_t> active{0};                // streams not yet ended
};

// Answers `responder` with `head` and the body `source` produces (head.content_length must be its
// size). When the first piece needs a wait and that wait fails, the client gets `refuse(status)`
// instead of the head (a clean 502/504, not a cut body); a failure after the head cuts the
// connection, so the client sees a short body, never a wrong one. `head_only` (HEAD): the head
// alone, after the same first wait. Returns at once; the stream runs on the responder's loop and
// the pool. A first wait that finds the pool's queue full gets 503; a body under way always gets
// its turn (one queued wait per response at most).
void stream_body(StreamContext& ctx, http::Responder responder, http::ResponseHead head,
                 std::unique_ptr<PieceSource> source, bool head_only,
                 std::function<http::Response(const Status&)> refuse);

}  // namespace thaw::cache
