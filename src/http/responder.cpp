#include "http/responder.h"

#include "http/exchange.h"

namespace thaw::http {

Exchange::~Exchange() {
  // Never leave the client hanging: no answer gets a 500, a stream nobody ends is cut.
  if (!answered_.load()) {
    with_sink([id = id_](ExchangeSink& s) {
      s.ex_send(id, Response::error(500, "internal error: the request was dropped without an answer"));
    });
  } else if (!ended_.load()) {
    with_sink([id = id_](ExchangeSink& s) { s.ex_abort(id); });
  }
}

bool Exchange::post_to_sink(std::function<void(ExchangeSink&)> fn) {
  if (!loop_.valid()) return false;
  std::shared_ptr<ExchangeSink> sink;
  {
    // Under the loop's gate: no connection is revived after its server stopped.
    std::lock_guard lock(loop_.impl()->gate->mu);
    if (!loop_.impl()->gate->open) return false;
    sink = sink_.lock();
  }
  if (!sink) return false;
  ExchangeSink* raw = sink.get();
  raw->run_on_connection([sink = std::move(sink), fn = std::move(fn)] { fn(*sink); });
  return true;
}

void Exchange::add_cancel(std::function<void()> fn) {
  if (cancelled_.load()) {
    fn();
    return;
  }
  on_cancel_.push_back(std::move(fn));
}

void Exchange::cancel() {
  if (cancelled_.exchange(true)) return;
  auto fns = std::move(on_cancel_);
  on_cancel_.clear();
  for (auto& fn : fns) fn();
}

bool Responder::send(Response response) const {
  if (!exchange_->claim() || exchange_->cancelled()) return false;
  exchange_->mark_ended();
  if (response.status >= 400 && exchange_->error_format) response = exchange_->error_format(std::move(response));
  exchange_->with_sink([id = exchange_->id(), r = std::move(response)](ExchangeSink& s) mutable {
    s.ex_send(id, std::move(r));
  });
  return true;
}

bool Responder::begin(ResponseHead head) const {
  if (!exchange_->claim() || exchange_->cancelled()) return false;
  exchange_->with_sink([id = exchange_->id(), h = std::move(head)](ExchangeSink& s) mutable {
    s.ex_begin(id, std::move(h));
  });
  return true;
}

namespace {
void queue_piece(Exchange& ex, BodyPiece piece) {
  auto done = piece.done;
  if (ex.cancelled()) {
    if (done) done(make_error(Code::kCancelled, "the client went away"));
    return;
  }
  auto shared = std::make_shared<BodyPiece>(std::move(piece));
  if (!ex.with_sink([id = ex.id(), shared](ExchangeSink& s) { s.ex_write(id, std::move(*shared)); }) && done)
    done(make_error(Code::kCancelled, "the client went away"));
}
}  // namespace

void Responder::write(std::string bytes, WriteDone done) const {
  BodyPiece p;
  p.bytes = std::move(bytes);
  p.done = std::move(done);
  queue_piece(*exchange_, std::move(p));
}

void Responder::write_file(UniqueFd fd, uint64_t offset, uint64_t length, WriteDone done) const {
  BodyPiece p;
  p.file = std::move(fd);
  p.offset = offset;
  p.length = length;
  p.done = std::move(done);
  queue_piece(*exchange_, std::move(p));
}

void Responder::finish(WriteDone done) const {
  exchange_->mark_ended();
  auto shared = std::make_shared<WriteDone>(std::move(done));
  if (!exchange_->with_sink([id = exchange_->id(), shared](ExchangeSink& s) { s.ex_finish(id, std::move(*shared)); }) &&
      *shared)
    (*shared)(make_error(Code::kCancelled, "the client went away"));
}

void Responder::abort() const {
  exchange_->mark_ended();
  exchange_->with_sink([id = exchange_->id()](ExchangeSink& s) { s.ex_abort(id); });
}

void Responder::on_cancel(std::function<void()> fn) const {
  auto shared = std::make_shared<std::function<void()>>(std::move(fn));
  if (!exchange_->with_sink([ex = exchange_, shared](ExchangeSink&) { ex->add_cancel(std::move(*shared)); })) {
    exchange_->cancel();  // the connection is gone: so is the client
    (*shared)();
  }
}

bool Responder::cancelled() const { return exchange_->cancelled(); }

void Responder::set_error_format(std::function<Response(Response)> fn) const {
  exchange_->error_format = std::move(fn);
}

void Responder::set_user(std::string user) const {
  exchange_->with_sink([id = exchange_->id(), u = std::move(user)](ExchangeSink& s) mutable {
    s.ex_set_user(id, std::move(u));
  });
}

const Loop& Responder::loop() const { return exchange_->loop(); }

}  // namespace thaw::http
