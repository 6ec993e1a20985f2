#include "cache/body_stream.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

namespace thaw::cache {

Result<std::optional<Piece>> FileSource::next() {
  if (pos_ >= end_) return std::optional<Piece>();
  // A descriptor per piece: the server closes each one once its piece is sent.
  UniqueFd dup(::fcntl(file_.get(), F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) return make_error(Code::kIo, "duplicating a descriptor: {}", std::strerror(errno));
  Piece p;
  p.file = std::move(dup);
  p.offset = pos_;
  p.length = std::min(end_ - pos_, max_piece_);
  pos_ += p.length;
  return std::optional<Piece>(std::move(p));
}

namespace {

// One response's producer. Only one of its steps runs at a time: each starts from the previous
// piece's WriteDone or from the pool task that waited for it.
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(StreamContext& ctx, http::Responder responder, std::unique_ptr<PieceSource> source)
      : ctx_(ctx), responder_(std::move(responder)), source_(std::move(source)) {
    ctx_.active.fetch_add(1);
  }
  ~Stream() {
    if (began_ && !ended_) responder_.abort();  // never leave a started body hanging
    ctx_.active.fetch_sub(1);
  }

  void open(http::ResponseHead head, bool head_only, std::function<http::Response(const Status&)> refuse) {
    if (source_->ready()) return begin(std::move(head), head_only);
    auto first_wait = [self = shared_from_this(), head = std::move(head), head_only,
                       refuse = std::move(refuse)]() mutable {
      if (self->responder_.cancelled()) return;
      if (Status s = self->source_->wait(); !s.is_ok()) {
        self->responder_.send(refuse(s));
        return;
      }
      self->begin(std::move(head), head_only);
    };
    if (ctx_.pool.on_pool_thread()) return first_wait();
    // A new request: admitted only while the pool's queue has room.
    if (!ctx_.pool.submit(std::move(first_wait)))
      responder_.send(
          http::Response::error(503, "the cache is busy: too many requests are waiting for the upstream"));
  }

 private:
  void begin(http::ResponseHead head, bool head_only) {
    if (!responder_.begin(std::move(head))) return;
    began_ = true;
    if (head_only) return end();
    step();
  }

  // Hands over the next piece, or ends the body.
  void step() {
    if (responder_.cancelled()) return;
    if (!source_->ready()) {
      if (ctx_.pool.on_pool_thread()) return wait_then_step();
      // A response under way is never refused for a full queue: each has at most one task queued.
      if (!ctx_.pool.submit_continuation([self = shared_from_this()] { self->wait_then_step(); })) cut();
      return;
    }
    auto piece = source_->next();
    if (!piece.is_ok()) return cut();
    if (!*piece) return end();
    Piece& p = **piece;
    const uint64_t n = p.size();
    http::WriteDone done = [self = shared_from_this(), n](Status s) { self->written(s, n); };
    if (p.file.valid())
      responder_.write_file(std::move(p.file), p.offset, p.length, std::move(done));
    else
      responder_.write(std::move(p.bytes), std::move(done));
  }

  void wait_then_step() {
    if (responder_.cancelled()) return;
    if (Status s = source_->wait(); !s.is_ok()) return cut();
    step();
  }

  void written(const Status& s, uint64_t n) {
    if (!s.is_ok()) return;  // the client went away or stopped reading: the stream ends here
    if (ctx_.bytes_sent) ctx_.bytes_sent->fetch_add(n);
    // Posted rather than called: writes that complete at once must not recurse a body deep.
    responder_.loop().post([self = shared_from_this()] { self->step(); });
  }

  void end() {
    ended_ = true;
    responder_.finish();
  }
  // The body cannot be completed: the client sees it cut short, never wrong bytes.
  void cut() {
    ended_ = true;
    responder_.abort();
  }

  StreamContext& ctx_;
  http::Responder responder_;
  std::unique_ptr<PieceSource> source_;
  bool began_ = false;
  bool ended_ = false;
};

}  // namespace

void stream_body(StreamContext& ctx, http::Responder responder, http::ResponseHead head,
                 std::unique_ptr<PieceSource> source, bool head_only,
                 std::function<http::Response(const Status&)> refuse) {
  auto stream = std::make_shared<Stream>(ctx, std::move(responder), std::move(source));
  stream->open(std::move(head), head_only, std::move(refuse));
}

}  // namespace thaw::cache
