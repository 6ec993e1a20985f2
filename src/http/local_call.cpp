#include "http/local_call.h"

#include <sys/types.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "http/exchange.h"
#include "http/server.h"
#include "http/server_impl.h"

namespace thaw::http {
namespace asio = boost::asio;

namespace {

// The connection side of a local call: collects the answer and hands it over once. Serialised on
// a strand of the chosen loop, as a connection is.
class LocalSink final : public ExchangeSink, public LocalCall, public std::enable_shared_from_this<LocalSink> {
 public:
  LocalSink(asio::io_context& io, LocalDone done, LocalCallOptions options)
      : strand_(asio::make_strand(io)), done_(std::move(done)), options_(options) {}

  void start(Server::Impl& server, const Loop& loop, Request request) {
    self_ = shared_from_this();  // until the answer is delivered
    asio::dispatch(strand_, [this, &server, loop, request = std::move(request)]() mutable {
      auto ex = std::make_shared<Exchange>(weak_from_this(), loop, 1);
      ex->request = std::move(request);
      exchange_ = ex;
      server.counters.requests++;
      Request& r = ex->request;  // the exchange keeps it alive while the route answers
      server.router.route(r, Responder(std::move(ex)));
    });
  }

  void cancel() override {
    asio::dispatch(strand_, [weak = weak_from_this()] {
      if (auto self = weak.lock())
        if (auto ex = self->exchange_.lock()) ex->cancel();
    });
    deliver(Response::error(kClientClosedRequest, "the client cancelled the request"));
  }

  void run_on_connection(std::function<void()> fn) override { asio::dispatch(strand_, std::move(fn)); }
  bool on_connection_thread() const override { return strand_.running_in_this_thread(); }

  void ex_send(uint64_t, Response response) override { deliver(std::move(response)); }

  void ex_begin(uint64_t, ResponseHead head) override {
    streamed_.status = head.status;
    streamed_.content_type = std::move(head.content_type);
    streamed_.headers = std::move(head.headers);
    streaming_ = true;
  }

  void ex_write(uint64_t, BodyPiece piece) override {
    Status s = streaming_ && !delivered_ ? append(piece) : make_error(Code::kUnavailable, "the response is not streaming");
    if (!s.is_ok()) deliver(Response::from_status(s));
    // Later, never inline: a producer that writes its next piece from `done` must not recurse.
    if (piece.done) asio::post(strand_, [done = std::move(piece.done), s] { done(s); });
  }

  void ex_finish(uint64_t, WriteDone done) override {
    if (streaming_) deliver(std::move(streamed_));
    if (done) asio::post(strand_, [done = std::move(done)] { done(Status::ok()); });
  }

  void ex_abort(uint64_t) override { deliver(Response::error(502, "the response was cut off before its end")); }
  void ex_set_user(uint64_t, std::string) override {}  // a local call has no request log

 private:
  Status append(const BodyPiece& piece) {
    const uint64_t size = piece.file.valid() ? piece.length : piece.bytes.size();
    if (streamed_.body.size() + size > options_.max_response_bytes)
      return make_error(Code::kResourceExhausted, "the response is larger than {} bytes", options_.max_response_bytes);
    if (!piece.file.valid()) {
      streamed_.body += piece.bytes;
      return Status::ok();
    }
    const size_t at = streamed_.body.size();
    streamed_.body.resize(at + piece.length);
    uint64_t done = 0;
    while (done < piece.length) {
      ssize_t n = ::pread(piece.file.get(), streamed_.body.data() + at + done, piece.length - done,
                          static_cast<off_t>(piece.offset + done));
      if (n <= 0) return make_error(Code::kInternal, "reading the response body failed");
      done += static_cast<uint64_t>(n);
    }
    return Status::ok();
  }

  void deliver(Response response) {
    if (delivered_.exchange(true)) return;
    LocalDone done = std::move(done_);
    done(std::move(response));
    // Leave the strand before letting go of ourselves: a caller may still be inside a method.
    asio::post(strand_, [self = std::move(self_)] {});
  }

  asio::strand<asio::io_context::executor_type> strand_;
  LocalDone done_;
  LocalCallOptions options_;
  std::shared_ptr<LocalSink> self_;
  std::weak_ptr<Exchange> exchange_;
  Response streamed_;
  bool streaming_ = false;
  std::atomic<bool> delivered_{false};
};

}  // namespace

std::shared_ptr<LocalCall> Server::route_local(Request request, LocalDone done, LocalCallOptions options) {
  Impl& s = *impl_;
  if (s.stopping) {
    done(Response::error(503, "the server is stopping"));
    return nullptr;
  }
  const int i = s.pick_loop();
  auto sink = std::make_shared<LocalSink>(s.loop(i), std::move(done), options);
  sink->start(s, s.loop_handles[static_cast<size_t>(i)], std::move(request));
  return sink;
}

}  // namespace thaw::http
