// The server's side of one request, shared by the Responder handles and the connection that owns
// the request. Internal to the http module.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "http/loop_impl.h"
#include "http/responder.h"

namespace thaw::http {

// One piece of a streamed body.
struct BodyPiece {
  std::string bytes;
  UniqueFd file;  // valid: send `length` bytes of it from `offset` instead of `bytes`
  uint64_t offset = 0, length = 0;
  WriteDone done;
};

// What a connection does for its exchanges. Every call runs on the connection's loop and names the
// exchange by id, so a late call for an earlier request on a kept-alive connection does nothing.
class ExchangeSink {
 public:
  virtual ~ExchangeSink() = default;
  // Runs `fn` on the connection's loop (its strand on a shared loop), inline when already there.
  virtual void run_on_connection(std::function<void()> fn) = 0;
  // True on the thread that may touch the connection now (its loop, or its strand held).
  virtual bool on_connection_thread() const = 0;
  virtual void ex_send(uint64_t id, Response response) = 0;
  virtual void ex_begin(uint64_t id, ResponseHead head) = 0;
  virtual void ex_write(uint64_t id, BodyPiece piece) = 0;
  virtual void ex_finish(uint64_t id, WriteDone done) = 0;
  virtual void ex_abort(uint64_t id) = 0;
  virtual void ex_set_user(uint64_t id, std::string user) = 0;
};

class Exchange {
 public:
  Exchange(std::weak_ptr<ExchangeSink> sink, Loop loop, uint64_t id)
      : sink_(std::move(sink)), loop_(std::move(loop)), id_(id) {}
  ~Exchange();  // unanswered: the client gets 500

  Request request;  // valid until the answer is complete

  uint64_t id() const { return id_; }
  const Loop& loop() const { return loop_; }
  // Claims the answer (send or begin): true only for the first caller.
  bool claim() { return !answered_.exchange(true); }
  bool answered() const { return answered_.load(); }
  // A streamed answer was ended (finish or abort); a whole one ends when sent.
  void mark_ended() { ended_ = true; }
  bool cancelled() const { return cancelled_.load(); }

  // Runs fn(sink) on the connection's loop (inline when already there). False, with fn dropped,
  // when the connection or its server is gone.
  template <class Fn>
  bool with_sink(Fn&& fn) {
    // On the connection's own thread (a handler answering at once, a continuation posted there):
    // no hand-off, no allocation.
    if (auto sink = sink_.lock(); sink && sink->on_connection_thread()) {
      fn(*sink);
      return true;
    }
    return post_to_sink(std::function<void(ExchangeSink&)>(std::forward<Fn>(fn)));
  }
  bool post_to_sink(std::function<void(ExchangeSink&)> fn);

  // Rewrites a whole error response before it goes (an API's own error shape). Set by the handler
  // before it hands the request on; read when the answer is sent.
  std::function<Response(Response)> error_format;

  // On the connection's loop only.
  void add_cancel(std::function<void()> fn);
  void cancel();  // the client went away: marks it and runs the callbacks once

 private:
  std::weak_ptr<ExchangeSink> sink_;
  Loop loop_;
  uint64_t id_;
  std::atomic<bool> answered_{false};
  std::atomic<bool> ended_{false};
  std::atomic<bool> cancelled_{false};
  std::vector<std::function<void()>> on_cancel_;  // loop only
};

}  // namespace thaw::http
