#include "loadgen/runner.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "loadgen/target.h"

namespace thaw::loadgen {

std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::kNone:
      return "none";
    case Failure::kConnectRefused:
      return "connect_refused";
    case Failure::kConnectFailed:
      return "connect_failed";
    case Failure::kConnectTimeout:
      return "connect_timeout";
    case Failure::kConnectionClosed:
      return "connection_closed";
    case Failure::kTimeout:
      return "timeout";
    case Failure::kQueueTimeout:
      return "queue_timeout";
    case Failure::kBadResponse:
      return "bad_response";
    case Failure::kResponseTooLarge:
      return "response_too_large";
    case Failure::kInterrupted:
      return "interrupted";
    case Failure::kUnresolved:
      return "unresolved";
  }
  return "unknown";
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using Socket = asio::generic::stream_protocol::socket;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kNoRequest = std::numeric_limits<size_t>::max();

struct Connection {
  explicit Connection(asio::io_context& io) : socket(io), timer(io) {}
  Socket socket;
  asio::steady_timer timer;       // connect or request deadline
  uint64_t timer_generation = 0;  // a fired wait for an older deadline is ignored
  beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  size_t request = kNoRequest;  // index of the request in flight
  size_t resend = kNoRequest;   // a request resent after a stale keep-alive: this fresh connection's own
  bool served = false;          // completed an exchange before (a reused keep-alive connection)
  bool timed_out = false;
  bool closed = false;
};
using ConnectionPtr = std::shared_ptr<Connection>;

// Serialises one request per distinct target once, so sending is a single buffer write.
Result<std::vector<std::string>> build_wires(const Schedule& schedule, const LoadOptions& o) {
  std::vector<std::string> models = schedule.models;
  if (models.empty()) models.push_back(o.default_model);
  if (has_model_placeholder(o.path) && !schedule.has_models() && o.default_model.empty())
    return make_error(
        Code::kInvalidArgument,
        "the path '{}' has {{model}} but the schedule names no models and no default model is set", o.path);
  bhttp::verb verb = bhttp::string_to_verb(o.method);
  if (verb == bhttp::verb::unknown)
    return make_error(Code::kInvalidArgument, "unknown HTTP method '{}'", o.method);
  std::vector<std::string> wires;
  for (const std::string& model : models) {
    bhttp::request<bhttp::string_body> req;
    req.version(11);
    req.method(verb);
    std::string target = expand_model(o.path, model);
    req.target(target);
    std::string host =
        o.host_header.empty() ? (o.endpoint.is_unix() ? "localhost" : o.endpoint.to_string()) : o.host_header;
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::user_agent, "thaw-bench-load");
    for (const auto& [name, value] : o.headers) {
      if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos)
        return make_error(Code::kInvalidArgument, "malformed header '{}: {}'", name, value);
      req.insert(name, value);
    }
    if (!o.body.empty() && req.find(bhttp::field::content_type) == req.end())
      req.set(bhttp::field::content_type, "application/json");
    req.body() = o.body;
    req.prepare_payload();
    std::ostringstream out;
    out << req;
    wires.push_back(out.str());
  }
  return wires;
}

Result<asio::generic::stream_protocol::endpoint> resolve(const http::Endpoint& ep) {
  if (ep.is_unix())
    return asio::generic::stream_protocol::endpoint(asio::local::stream_protocol::endpoint(ep.unix_path));
  asio::io_context io;
  error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
  if (ec || results.empty())
    return make_error(Code::kUnavailable, "cannot resolve host '{}': {}", ep.host, ec.message());
  return asio::generic::stream_protocol::endpoint(results.begin()->endpoint());
}

class LoadRun {
 public:
  LoadRun(const Schedule& schedule, const LoadOptions& options, std::vector<std::string> wires,
          asio::generic::stream_protocol::endpoint target)
      : schedule_(schedule), options_(options), wires_(std::move(wires)), target_(target) {
    out_.outcomes.resize(schedule.size());
    scheduled_ns_.reserve(schedule.size());
    for (double s : schedule.offsets_s) scheduled_ns_.push_back(static_cast<int64_t>(s * 1e9));
    timeout_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(options.timeout).count();
  }

  RunOutput run() {
    if (schedule_.size() == 0) return std::move(out_);
    if (options_.stop_on_signal) {
      signals_.add(SIGINT);
      signals_.add(SIGTERM);
      signals_.async_wait([this](error_code ec, int) {
        if (!ec) interrupt();
      });
    }
    t0_ = std::chrono::steady_clock::now();
    asio::post(io_, [this] { on_tick(); });
    io_.run();
    for (Outcome& o : out_.outcomes)
      if (o.failure == Failure::kUnresolved && o.status == 0 && o.done_ns < 0) o.done_ns = now_ns();
    out_.stats.wall_ns = last_done_ns_;
    return std::move(out_);
  }

 private:
  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_)
        .count();
  }
  SteadyTime at(int64_t ns) const { return t0_ + std::chrono::nanoseconds(ns); }
  int64_t deadline_ns(size_t idx) const { return scheduled_ns_[idx] + timeout_ns_; }
  const std::string& wire_for(size_t idx) const {
    return schedule_.model_of.empty() ? wires_.front() : wires_[schedule_.model_of[idx]];
  }

  // Moves every arrival that is due into the queue, then sleeps until the next one.
  void on_tick() {
    if (stopping_) return;
    int64_t now = now_ns();
    while (next_arrival_ < schedule_.size() && scheduled_ns_[next_arrival_] <= now)
      pending_.push_back(next_arrival_++);
    dispatch();
    if (next_arrival_ < schedule_.size()) {
      arrival_timer_.expires_at(at(scheduled_ns_[next_arrival_]));
      arrival_timer_.async_wait([this](error_code ec) {
        if (!ec) on_tick();
      });
    }
  }

  void dispatch() {
    if (stopping_) return;
    expire_queue();
    while (!pending_.empty() && !idle_.empty()) {
      ConnectionPtr c = std::move(idle_.back());
      idle_.pop_back();
      size_t idx = pending_.front();
      pending_.pop_front();
      send(c, idx);
    }
    // Grow the pool by one connection per queued request not already waiting on a connect.
    while (pending_.size() > connecting_ && live_.size() < options_.max_connections) open_connection();
    arm_queue_timer();
  }

  void expire_queue() {
    int64_t now = now_ns();
    while (!pending_.empty() && deadline_ns(pending_.front()) <= now) {
      size_t idx = pending_.front();
      pending_.pop_front();
      finish(idx, 0, Failure::kQueueTimeout, "no free connection before the deadline");
    }
  }

  void arm_queue_timer() {
    if (pending_.empty()) return;
    int64_t due = deadline_ns(pending_.front());
    if (queue_timer_armed_ && queue_timer_due_ == due) return;
    queue_timer_armed_ = true;
    queue_timer_due_ = due;
    queue_timer_.expires_at(at(due));
    queue_timer_.async_wait([this](error_code ec) {
      if (ec) return;
      queue_timer_armed_ = false;
      dispatch();
    });
  }

  void arm_deadline(const ConnectionPtr& c, int64_t due_ns) {
    uint64_t generation = ++c->timer_generation;
    c->timed_out = false;
    c->timer.expires_at(at(due_ns));
    c->timer.async_wait([c, generation](error_code ec) {
      if (ec || c->timer_generation != generation || c->closed) return;
      c->timed_out = true;
      error_code ignored;
      c->socket.close(ignored);
    });
  }

  void disarm_deadline(const ConnectionPtr& c) {
    ++c->timer_generation;
    c->timer.cancel();
  }

  // A connection for the queue, or (`resend`) for one request only.
  void open_connection(size_t resend = kNoRequest) {
    auto c = std::make_shared<Connection>(io_);
    c->resend = resend;
    live_.push_back(c);
    if (resend == kNoRequest) ++connecting_;
    ++out_.stats.connections_opened;
    out_.stats.peak_connections = std::max<uint64_t>(out_.stats.peak_connections, live_.size());
    arm_deadline(c, now_ns() + timeout_ns_);
    c->socket.async_connect(target_, [this, c](error_code ec) { on_connect(c, ec); });
  }

  void on_connect(const ConnectionPtr& c, error_code ec) {
    const size_t resend = std::exchange(c->resend, kNoRequest);
    if (resend == kNoRequest) --connecting_;
    disarm_deadline(c);
    if (stopping_) {
      drop(c);
      if (resend != kNoRequest) finish(resend, 0, Failure::kInterrupted, "the run was interrupted");
      return;
    }
    if (ec) {
      Failure f = c->timed_out                            ? Failure::kConnectTimeout
                  : ec == asio::error::connection_refused ? Failure::kConnectRefused
                                                          : Failure::kConnectFailed;
      std::string why = c->timed_out ? "connect timed out" : ec.message();
      drop(c);
      if (resend != kNoRequest) {
        finish(resend, 0, f, why);
        dispatch();
        return;
      }
      // The connection was opened for the queue; its oldest request takes the failure, so a dead
      // server fails requests one by one instead of spinning on reconnects.
      if (!pending_.empty()) {
        size_t idx = pending_.front();
        pending_.pop_front();
        finish(idx, 0, f, why);
      }
      dispatch();
      return;
    }
    if (!options_.endpoint.is_unix()) {
      error_code ignored;
      c->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    if (resend != kNoRequest) {
      send(c, resend);
      return;
    }
    idle_.push_back(c);
    dispatch();
  }

  void send(const ConnectionPtr& c, size_t idx) {
    Outcome& o = out_.outcomes[idx];
    if (o.sent_ns < 0) o.sent_ns = now_ns();
    ++o.attempts;
    c->request = idx;
    arm_deadline(c, deadline_ns(idx));
    const std::string& wire = wire_for(idx);
    asio::async_write(c->socket, asio::buffer(wire), [this, c](error_code ec, size_t) {
      if (ec) {
        on_failure(c, ec, /*read_some=*/false);
        return;
      }
      c->parser.emplace();
      c->parser->body_limit(options_.max_response_bytes);
      c->parser->header_limit(1 << 20);
      if (options_.method == "HEAD") c->parser->skip(true);
      bhttp::async_read_header(c->socket, c->buffer, *c->parser,
                               [this, c](error_code ec2, size_t) { on_header(c, ec2); });
    });
  }

  void on_header(const ConnectionPtr& c, error_code ec) {
    // Beast 1.74 checks body_limit against Content-Length for requests only; check it here so an
    // oversized response is refused before its body is buffered.
    auto length = c->parser->content_length();
    if (!ec && length && *length > options_.max_response_bytes) ec = bhttp::error::body_limit;
    if (ec) {
      on_failure(c, ec, c->parser->got_some());
      return;
    }
    if (c->parser->is_done()) {
      on_response(c);
      return;
    }
    bhttp::async_read(c->socket, c->buffer, *c->parser, [this, c](error_code ec2, size_t) {
      if (ec2) {
        on_failure(c, ec2, true);
        return;
      }
      on_response(c);
    });
  }

  void on_response(const ConnectionPtr& c) {
    disarm_deadline(c);
    size_t idx = std::exchange(c->request, kNoRequest);
    const auto& res = c->parser->get();
    bool keep_alive = res.keep_alive();
    const int status = static_cast<int>(res.result_int());
    if (status >= 400 && !out_.stats.first_error_body.contains(status)) {
      // Printable ASCII only, so the report stays valid text whatever the server sent.
      std::string example = res.body().substr(0, 300);
      for (char& ch : example)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
      out_.stats.first_error_body.emplace(status, std::move(example));
    }
    finish(idx, static_cast<int16_t>(status), Failure::kNone, {});
    c->served = true;
    c->parser.reset();
    if (!keep_alive || stopping_) {
      drop(c);
    } else {
      idle_.push_back(c);
    }
    dispatch();
  }

  void on_failure(const ConnectionPtr& c, error_code ec, bool read_some) {
    disarm_deadline(c);
    size_t idx = std::exchange(c->request, kNoRequest);
    bool timed_out = c->timed_out;
    bool reused = c->served;
    drop(c);
    if (stopping_) {
      finish(idx, 0, Failure::kInterrupted, "the run was interrupted");
      return;
    }
    bool closed_by_peer = ec == asio::error::eof || ec == bhttp::error::end_of_stream ||
                          ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    // A keep-alive connection the server closed while it sat idle: resend once on a new one
    // (another idle connection may be just as stale: the server closes idle ones together).
    if (closed_by_peer && reused && !read_some && !timed_out && out_.outcomes[idx].attempts < 2) {
      ++out_.stats.resends;
      open_connection(idx);
      return;
    }
    // Other Beast HTTP errors mean the bytes were not valid HTTP; anything else is the transport.
    bool malformed = ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category() &&
                     !closed_by_peer && ec != bhttp::error::partial_message;
    bool too_large = ec == bhttp::error::body_limit || ec == bhttp::error::header_limit;
    Failure f = timed_out   ? Failure::kTimeout
                : too_large ? Failure::kResponseTooLarge
                : malformed ? Failure::kBadResponse
                            : Failure::kConnectionClosed;
    finish(idx, 0, f, timed_out ? "no complete response before the deadline" : ec.message());
    dispatch();
  }

  void drop(const ConnectionPtr& c) {
    if (c->closed) return;
    c->closed = true;
    error_code ignored;
    c->socket.close(ignored);
    c->timer.cancel();
    auto it = std::find(live_.begin(), live_.end(), c);
    if (it != live_.end()) live_.erase(it);
    auto idle = std::find(idle_.begin(), idle_.end(), c);
    if (idle != idle_.end()) idle_.erase(idle);
  }

  void finish(size_t idx, int16_t status, Failure failure, std::string_view why) {
    Outcome& o = out_.outcomes[idx];
    if (o.done_ns >= 0) return;  // already ended; never counted twice
    o.done_ns = now_ns();
    o.status = status;
    o.failure = failure;
    last_done_ns_ = std::max(last_done_ns_, o.done_ns);
    std::string& first = out_.stats.first_error[static_cast<size_t>(failure)];
    if (failure != Failure::kNone && first.empty()) first = std::string(why);
    if (++resolved_ == schedule_.size()) shutdown();
  }

  // Ends everything still open; called once every request has ended.
  void shutdown() {
    stopping_ = true;
    arrival_timer_.cancel();
    queue_timer_.cancel();
    error_code ignored;
    signals_.cancel(ignored);
    std::vector<ConnectionPtr> all = live_;
    for (const ConnectionPtr& c : all) drop(c);
  }

  // SIGINT/SIGTERM: requests not yet sent end as interrupted; those in flight are cut off and
  // end the same way in their handlers.
  void interrupt() {
    if (stopping_) return;
    stopping_ = true;
    arrival_timer_.cancel();
    queue_timer_.cancel();
    while (next_arrival_ < schedule_.size()) pending_.push_back(next_arrival_++);
    std::deque<size_t> unsent;
    unsent.swap(pending_);
    std::vector<ConnectionPtr> all = live_;
    for (const ConnectionPtr& c : all) {
      error_code ignored;
      c->socket.close(ignored);
    }
    for (size_t idx : unsent) finish(idx, 0, Failure::kInterrupted, "the run was interrupted");
  }

  const Schedule& schedule_;
  const LoadOptions& options_;
  std::vector<std::string> wires_;
  asio::generic::stream_protocol::endpoint target_;
  std::vector<int64_t> scheduled_ns_;
  int64_t timeout_ns_ = 0;

  asio::io_context io_{1};
  asio::steady_timer arrival_timer_{io_};
  asio::steady_timer queue_timer_{io_};
  bool queue_timer_armed_ = false;
  int64_t queue_timer_due_ = 0;
  asio::signal_set signals_{io_};
  SteadyTime t0_;

  std::deque<size_t> pending_;       // arrived, waiting for a connection (FIFO)
  std::vector<ConnectionPtr> idle_;  // connected, nothing in flight (most recently used last)
  std::vector<ConnectionPtr> live_;  // every open or opening connection
  size_t connecting_ = 0;
  size_t next_arrival_ = 0;
  size_t resolved_ = 0;
  int64_t last_done_ns_ = 0;
  bool stopping_ = false;
  RunOutput out_;
};

}  // namespace

Result<RunOutput> run_load(const Schedule& schedule, const LoadOptions& options) {
  if (options.max_connections == 0) return make_error(Code::kInvalidArgument, "max_connections must be >= 1");
  if (options.timeout.count() <= 0) return make_error(Code::kInvalidArgument, "timeout must be positive");
  if (!schedule.model_of.empty() && schedule.model_of.size() != schedule.size())
    return make_error(Code::kInvalidArgument, "schedule has {} model entries for {} arrivals",
                      schedule.model_of.size(), schedule.size());
  THAW_ASSIGN_OR_RETURN(std::vector<std::string> wires, build_wires(schedule, options));
  THAW_ASSIGN_OR_RETURN(auto target, resolve(options.endpoint));
  LoadRun run(schedule, options, std::move(wires), target);
  return run.run();
}

}  // namespace thaw::loadgen
