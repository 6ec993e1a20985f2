#include "gateway/proxy.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/gateway.h"

namespace thaw::gateway {

using http::Response;
using manager::Tier;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What an instance's answer carries back to the client, beyond the body.
constexpr std::string_view kForwardedHeaders[] = {"Inference-Header-Content-Length", "Content-Encoding", "Cache-Control"};
}  // namespace

namespace {
// True when a message names what only the server's operator should see: a process id, a log
// file or its lines, a socket, a file path (a route such as /v2/... is not one).
bool has_internals(std::string_view m) {
  for (std::string_view marker : {"pid ", "last lines of", "log ", ".log", "unix:", ".sock", "\n"})
    if (m.find(marker) != std::string_view::npos) return true;
  for (size_t at = m.find('/'); at != std::string_view::npos; at = m.find('/', at + 1)) {
    const bool starts_word = at == 0 || m[at - 1] == ' ' || m[at - 1] == '(' || m[at - 1] == '\'';
    if (starts_word && !m.substr(at).starts_with("/v2/") && !m.substr(at).starts_with("/admin/")) return true;
  }
  return false;
}

}  // namespace

// The message without what only the operator should read: a log's tail (the wrapper's own words
// after it stay), process ids, and directories (a file keeps its name).
std::string scrub(std::string_view m) {
  std::string out(m);
  if (size_t tail = out.find("; last lines of "); tail != std::string::npos) {
    const size_t resume = out.find("); the next attempt is in ", tail);
    out = out.substr(0, tail) + (resume == std::string::npos ? std::string() : out.substr(resume));
  }
  for (size_t at; (at = out.find(" (pid ")) != std::string::npos;) {
    const size_t close = out.find(')', at);
    if (close == std::string::npos) break;
    out.erase(at, close - at + 1);
  }
  for (size_t at = out.find('/'); at != std::string::npos; at = out.find('/', at + 1)) {
    const bool starts_word = at == 0 || out[at - 1] == ' ' || out[at - 1] == '(' || out[at - 1] == '\'' ||
                             out[at - 1] == '"';
    if (!starts_word || out.compare(at, 4, "/v2/") == 0 || out.compare(at, 7, "/admin/") == 0) continue;
    size_t end = out.find_first_of(" \"'),;:", at);
    if (end == std::string::npos) end = out.size();
    const size_t base = out.rfind('/', end - 1);
    out.erase(at, base + 1 - at);
  }
  return out;
}

std::string public_message(const Status& full, std::string_view model) {
  const Status s(full.code(), scrub(full.message()));
  if (!has_internals(s.message())) return s.message();
  switch (s.code()) {
    case Code::kUnavailable:
      return fmt::format("model '{}' cannot serve now; retry later (the server's log has the details)", model);
    case Code::kDeadlineExceeded:
      return fmt::format("model '{}' had no instance ready in time; retry later (the server's log has the details)",
                         model);
    default:
      return fmt::format("model '{}' failed (the server's log has the details)", model);
  }
}

Response refusal(const Status& full, Tier tier, bool show_internals, std::string_view model) {
  const Status s = show_internals ? full : Status(full.code(), public_message(full, model));
  switch (s.code()) {
    case Code::kResourceExhausted: {
      // Shedding says "later"; a full queue for premium or standard is the server's problem.
      Response r = Response::error(tier == Tier::kBatch ? 429 : 503, s.message());
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case Code::kUnavailable: {
      Response r = Response::error(503, s.message());
      r.headers.emplace_back("Retry-After", "2");
      return r;
    }
    case Code::kDeadlineExceeded: return Response::error(504, s.message());
    case Code::kNotFound: return Response::error(404, s.message());
    default: return Response::from_status(s);
  }
}

void ProxyCall::start() {
  std::weak_ptr<ProxyCall> weak = weak_from_this();
  responder.on_cancel([weak] {
    if (auto self = weak.lock()) self->cancel();
  });
  acquire();
}

void ProxyCall::acquire() {
  // The manager holds the callback until it runs exactly once; waiting_self_ keeps this call alive
  // meanwhile, so the callback captures a plain pointer (no allocation on the warm path).
  waiting_self_ = shared_from_this();
  ticket_ = gateway->manager_.acquire(serving, tier, std::nullopt, [call = this](Result<manager::Lease> r) {
    auto self = std::move(call->waiting_self_);
    // Granted inline on this loop, or later from the thread that freed a slot.
    if (self->responder.loop().running_here()) return self->on_lease(std::move(r));
    auto shared = std::make_shared<Result<manager::Lease>>(std::move(r));
    self->responder.loop().post([self, shared] { self->on_lease(std::move(*shared)); });
  });
}

void ProxyCall::on_lease(Result<manager::Lease> lease) {
  ticket_ = {};
  if (cancelled_ || finished_) return;  // the lease goes straight back
  if (!lease.is_ok()) return answer(refusal(lease.status(), tier, show_internals, model));
  lease_.emplace(std::move(lease).value());
  queue_s_ = to_seconds(lease_->queued());
  if (auto from = lease_->cold_from(); from && count_metrics) gateway->metrics_.cold_request(serving, *from);
  send_upstream();
}

void ProxyCall::send_upstream() {
  const http::Loop& loop = responder.loop();
  if (UpstreamPool* pool = gateway->pool_for(loop)) {
    client_ = pool->take(*lease_, loop);
  } else {
    http::AsyncClientOptions o;
    o.endpoint = lease_->endpoint();
    o.timeout = lease_->request_timeout();
    o.host_header = "thaw";
    client_ = http::AsyncClient::create(loop, std::move(o));
  }
  status_ = 0;
  headers_.clear();
  body_.clear();
  whole_ = false;
  up0_ = std::chrono::steady_clock::now();
  http::StreamCallbacks cb;
  cb.owner = shared_from_this();  // the callbacks below may then hold a plain pointer
  cb.on_head = [call = this](http::ClientHead& head) { call->on_head(head); };
  cb.on_data = [call = this](std::string& piece, std::function<void()> more) { call->on_data(piece, std::move(more)); };
  cb.on_done = [call = this, client = client_.get()](Status s) {
    if (call->client_.get() == client) call->on_done(std::move(s));  // else an abandoned attempt
  };
  client_->stream(upstream, std::move(cb));  // a copy: a retry sends it again
}

void ProxyCall::on_head(http::ClientHead& head) {
  if (head.status == 503 && attempt_ == 0 && cache_key.empty()) {
    // The instance is stopping (its zygote died, or someone sent it SIGTERM) and did not run the
    // request: it takes no more, and the request goes to another one.
    auto client = std::move(client_);
    client->cancel();  // its on_done is ignored: client_ is no longer it
    lease_->mark_failed();
    spdlog::warn("model={} instance {} answered 503 (stopping); retrying elsewhere", serving, lease_->instance_id());
    retry("the instance is stopping");
    return;
  }
  status_ = head.status;
  content_type_ = std::string(head.header("Content-Type").value_or("application/json"));
  for (std::string_view name : kForwardedHeaders)
    if (auto v = head.header(name)) headers_.emplace_back(std::string(name), std::string(*v));
  if (auto from = lease_->cold_from()) headers_.emplace_back("X-Thaw-Cold-Start", std::string(policy::rung_name(*from)));
  if (serving != model) headers_.emplace_back("X-Thaw-Served-By", serving);
  whole_ = head.whole;
  if (whole_) return;
  streaming_ = true;
  std::optional<uint64_t> length;
  if (!head.chunked) length = head.content_length;
  responder.begin(http::ResponseHead{status_, content_type_, headers_, length});
}

void ProxyCall::on_data(std::string& piece, std::function<void()> more) {
  if (whole_) {
    body_ = std::move(piece);
    return more();
  }
  // The next piece is read from the instance only once this one reached the client's socket.
  std::weak_ptr<ProxyCall> weak = weak_from_this();
  responder.write(std::move(piece), [weak, more = std::move(more)](Status s) {
    if (s.is_ok()) return more();
    if (auto self = weak.lock(); self && self->client_) self->client_->cancel();
  });
}

void ProxyCall::on_done(Status status) {
  upstream_s_ = seconds_since(up0_);
  if (status.is_ok()) {
    if (whole_) {
      Response r;
      r.status = status_;
      r.content_type = content_type_;
      r.headers = std::move(headers_);
      r.body = std::move(body_);
      if (!cache_key.empty() && r.status == 200) gateway->cache_info(cache_key, r);
      release_client(true);
      return answer(std::move(r));
    }
    responder.finish();
    release_client(true);
    finished_ = true;
    record(status_);
    lease_.reset();
    return;
  }
  release_client(false);
  if (cancelled_ || status.code() == Code::kCancelled) {
    lease_.reset();  // the client left; the instance is fine
    if (!cancelled_) record(499);
    finished_ = true;
    return;
  }
  lease_->mark_failed();
  const bool broke = status.code() == Code::kUnavailable;
  spdlog::warn("model={} instance {} failed mid-request (attempt {}): {}", serving, lease_->instance_id(), attempt_ + 1,
               status.to_string());
  if (streaming_) {
    // Part of the answer is out: the client must see a cut, never a spliced or wrong body.
    responder.abort();
    finished_ = true;
    lease_.reset();
    record(502);
    return;
  }
  // Killed for a cause of its own (the rest of a bundle it started on failed to arrive): the client
  // hears that cause, as for a failed start, and the next request starts afresh.
  if (Status killed = lease_->instance_killed_because(); !killed.is_ok()) {
    answer(Response::error(http::http_status_for(killed.code()),
                           "model '" + model + "': its instance was stopped mid-request: " + killed.to_string()));
    return;
  }
  if (broke && attempt_ == 0 && retry(status.message())) return;
  const std::string detail = show_internals ? " (" + status.message() + ")" : std::string();
  answer(broke ? Response::error(502, "model '" + model + "': the instance failed mid-request twice" + detail)
               : Response::error(504, "model '" + model +
                                          "': no answer within the request timeout (request_timeout_ms: the longest "
                                          "wait for an answer, and between two pieces of a streamed one; stream "
                                          "long generations, or raise it)" + detail));
}

bool ProxyCall::retry(const std::string& why) {
  (void)why;
  if (count_metrics) gateway->metrics_.retry(model);
  lease_.reset();  // back first (and the broken instance checked) so the retry lands elsewhere
  ++attempt_;
  acquire();
  return true;
}

void ProxyCall::answer(Response response) {
  finished_ = true;
  lease_.reset();
  const int status = response.status;
  responder.send(std::move(response));
  record(status);
}

void ProxyCall::cancel() {
  if (finished_ || cancelled_) return;
  cancelled_ = true;
  if (ticket_.queued()) gateway->manager_.cancel(ticket_);
  if (client_) client_->cancel();
  record(499);
}

void ProxyCall::record(int status) {
  if (!count_metrics) return;
  const double total_s = seconds_since(t0_);
  gateway->metrics_.request(model, tier, status, total_s, queue_s_, upstream_s_);
  http::InferenceStats* stats = gateway->stats_for(model);
  if (stats == nullptr) return;
  const auto ns = [](double s) { return s > 0 ? static_cast<uint64_t>(s * 1e9) : uint64_t{0}; };
  if (status >= 200 && status < 400)
    stats->success(ns(total_s), http::InferenceStats::Phases{ns(queue_s_), 0, ns(upstream_s_), 0, 1});
  else
    stats->failure(ns(total_s));
}

void ProxyCall::release_client(bool reuse) {
  if (!client_) return;
  auto client = std::move(client_);
  if (!reuse || !lease_) return;
  if (UpstreamPool* pool = gateway->pool_for(responder.loop())) pool->give(*lease_, std::move(client));
}

}  // namespace thaw::gateway
