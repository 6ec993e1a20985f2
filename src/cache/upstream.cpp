#include "cache/upstream.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include <fmt/format.h>

namespace thaw::cache {

namespace {
bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

bool parse_content_range(std::string_view v, uint64_t* first, uint64_t* last, uint64_t* total) {
  if (v.substr(0, 6) != "bytes ") return false;
  v.remove_prefix(6);
  size_t dash = v.find('-');
  size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return false;
  return parse_u64(v.substr(0, dash), first) && parse_u64(v.substr(dash + 1, slash - dash - 1), last) &&
         parse_u64(v.substr(slash + 1), total) && *first <= *last && *last < *total;
}

Result<std::unique_ptr<Upstream>> Upstream::create(UpstreamOptions options, const Clock& clock, Sleeper& sleeper) {
  std::string_view url = options.url;
  if (url.substr(0, 7) != "http://")
    return make_error(Code::kInvalidArgument, "upstream '{}' must be an http:// URL", options.url);
  url.remove_prefix(7);
  size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string hp(hostport);
  if (hp.find(':') == std::string::npos || hp.back() == ']') hp += ":80";
  THAW_ASSIGN_OR_RETURN(http::Endpoint ep, http::Endpoint::parse(hp));
  if (options.kind == UpstreamKind::kS3) {
    if (options.bucket.empty()) return make_error(Code::kInvalidArgument, "an s3 upstream needs a bucket");
    prefix += "/" + options.bucket;
  }
  std::vector<std::unique_ptr<Upstream>> peers;
  for (const std::string& url : options.peers) {
    UpstreamOptions po;
    po.url = url;
    po.kind = UpstreamKind::kThawCache;
    po.timeout = options.timeout;
    po.retry = options.retry;
    po.retry.max_attempts = 1;  // a peer that fails is passed over, not waited for
    auto peer = create(std::move(po), clock, sleeper);
    if (!peer.is_ok()) return peer.status().with_context("--peer");
    peers.push_back(std::move(peer).value());
  }
  auto up = std::unique_ptr<Upstream>(new Upstream(std::move(options), std::move(ep), std::move(prefix), clock, sleeper));
  up->peers_ = std::move(peers);
  return up;
}

std::string Upstream::object_path(const std::string& name, const std::string& version) const {
  return fmt::format("{}/{}", name, version);
}

std::string Upstream::url_path(const std::string& key) const {
  if (options_.kind == UpstreamKind::kThawCache) return fmt::format("{}/models/{}", prefix_, key);
  if (options_.kind == UpstreamKind::kExactPath) return key;
  return fmt::format("{}/{}.thaw", prefix_, key);
}

std::string Upstream::describe() const {
  const char* kind = options_.kind == UpstreamKind::kS3 ? "s3" : options_.kind == UpstreamKind::kThawCache ? "thaw-cache" : "http";
  return fmt::format("{} http://{}{}", kind, endpoint_.to_string(), prefix_);
}

std::optional<int> Upstream::chosen(const std::string& key) {
  std::lock_guard lock(choice_mu_);
  auto it = choice_.find(key);
  if (it == choice_.end()) return std::nullopt;
  return it->second;
}

void Upstream::choose(const std::string& key, int source) {
  std::lock_guard lock(choice_mu_);
  if (choice_.size() >= 4096) choice_.clear();
  choice_[key] = source;
}

std::unique_ptr<http::Client> Upstream::take_client() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return std::make_unique<http::Client>(http::ClientOptions{.endpoint = endpoint_, .timeout = options_.timeout});
}

void Upstream::give_client(std::unique_ptr<http::Client> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 64) idle_.push_back(std::move(c));
}

template <typename T, typename Here>
Result<T> Upstream::route(const std::string& key, Here here) {
  if (peers_.empty()) return here(*this);
  const std::optional<int> was = chosen(key);
  if (was && *was >= 0) {
    Result<T> r = here(*peers_[static_cast<size_t>(*was)]);
    if (r.is_ok() || r.status().code() == Code::kInvalidArgument) return r;
    choose(key, -1);  // the peer failed mid-way: the registry serves the rest
  } else if (!was) {
    for (size_t i = 0; i < peers_.size(); ++i) {
      Result<T> r = here(*peers_[i]);
      if (r.is_ok()) {
        choose(key, static_cast<int>(i));
        return r;
      }
    }
    choose(key, -1);
  }
  return here(*this);
}

Result<RangeBytes> Upstream::read_once(const std::string& key, uint64_t offset, uint64_t length) {
  return route<RangeBytes>(key, [&](Upstream& up) { return up.read_here(key, offset, length); });
}

Result<std::unique_ptr<RangeStream>> Upstream::open_range_once(const std::string& key, uint64_t offset,
                                                               uint64_t length) {
  return route<std::unique_ptr<RangeStream>>(key, [&](Upstream& up) { return up.open_here(key, offset, length); });
}

Result<Upstream::RangeHead> Upstream::check_range_head(const http::ClientResponse& resp, const std::string& path,
                                                       uint64_t offset, uint64_t length, uint64_t body_bytes) {
  if (resp.status == 404) return make_error(Code::kNotFound, "upstream has no {}", path);
  if (resp.status == 416)
    return make_error(Code::kInvalidArgument, "upstream: range {}+{} is past the end of {}", offset, length, path);
  if (resp.status >= 500 || resp.status == 429 || resp.status == 408)
    return make_error(Code::kUnavailable, "upstream answered {} for {}", resp.status, path);
  RangeHead head;
  if (resp.status == 200) {  // a server without range support sends the whole object
    head.total = body_bytes;
    if (offset > body_bytes) return make_error(Code::kInvalidArgument, "range past the end of {}", path);
    head.discard = offset;
    head.length = std::min(length, body_bytes - offset);
    return head;
  }
  if (resp.status != 206) return make_error(Code::kUnavailable, "upstream answered {} for {}", resp.status, path);
  uint64_t first = 0, last = 0, total = 0;
  auto cr = resp.header("Content-Range");
  if (!cr || !parse_content_range(*cr, &first, &last, &total))
    return make_error(Code::kCorrupt, "upstream sent a 206 without a valid Content-Range for {}", path);
  uint64_t want_last = std::min(offset + length, total) - 1;
  if (first != offset || last != want_last || body_bytes != last - first + 1)
    return make_error(Code::kCorrupt, "upstream sent bytes {}-{} ({} in body) for {}-{} of {}", first, last, body_bytes,
                      offset, want_last, path);
  head.total = total;
  head.length = body_bytes;
  return head;
}

http::Headers Upstream::request_headers() const {
  http::Headers headers;
  if (options_.kind == UpstreamKind::kThawCache) headers.emplace_back("Cache-Control", "only-if-cached");
  return headers;
}

Result<RangeBytes> Upstream::read_here(const std::string& key, uint64_t offset, uint64_t length) {
  const std::string path = url_path(key);
  auto client = take_client();
  stats_.requests.fetch_add(1);
  auto r = client->get_range(path, offset, length, request_headers());
  if (!r.is_ok()) return r.status();  // the broken client is dropped
  http::ClientResponse& resp = *r;
  auto head = check_range_head(resp, path, offset, length, resp.body.size());
  if (!head.is_ok()) {
    if (resp.status == 404 || resp.status == 416) give_client(std::move(client));
    return head.status();
  }
  RangeBytes out;
  out.total_size = head->total;
  if (head->discard > 0 || head->length != resp.body.size())
    out.bytes = resp.body.substr(head->discard, head->length);
  else
    out.bytes = std::move(resp.body);
  stats_.bytes.fetch_add(out.bytes.size());
  give_client(std::move(client));
  return out;
}

Result<std::unique_ptr<RangeStream>> Upstream::open_here(const std::string& key, uint64_t offset, uint64_t length) {
  const std::string path = url_path(key);
  auto client = take_client();
  stats_.requests.fetch_add(1);
  auto r = client->get_range_head(path, offset, length, request_headers());
  if (!r.is_ok()) return r.status();
  THAW_ASSIGN_OR_RETURN(RangeHead head, check_range_head(*r, path, offset, length, client->body_left()));
  return std::unique_ptr<RangeStream>(
      new RangeStream(*this, std::move(client), offset, head.length, head.total, head.discard));
}

RangeStream::~RangeStream() {
  // The rest of a whole object (a 200) is dropped with its connection; a range read to its end is reused.
  if (client_ && client_->body_left() == 0) owner_.give_client(std::move(client_));
}

namespace {
// Reads and drops `n` bytes of the client's body.
Status drain_body(http::Client& client, uint64_t n) {
  std::vector<std::byte> scratch(std::min<uint64_t>(n, 64 << 10));
  for (uint64_t left = n; left > 0;) {
    const uint64_t k = std::min<uint64_t>(left, scratch.size());
    THAW_TRY(client.read_body(std::span(scratch).first(k)));
    left -= k;
  }
  return Status::ok();
}
}  // namespace

Status RangeStream::take(uint64_t n, std::span<std::byte> out) {
  if (n > left())
    return make_error(Code::kInvalidArgument, "reading {} bytes of a range with {} left", n, left());
  if (discard_ > 0) {  // a 200's leading bytes, before offset_
    const uint64_t before = discard_;
    discard_ = 0;
    THAW_TRY(drain_body(*client_, before));
  }
  THAW_TRY(out.empty() ? drain_body(*client_, n) : client_->read_body(out));
  read_ += n;
  owner_.stats_.bytes.fetch_add(n);
  return Status::ok();
}

Status RangeStream::read(std::span<std::byte> out) { return take(out.size(), out); }

Status RangeStream::skip(uint64_t n) { return take(n, {}); }

Result<RangeBytes> Upstream::read(const std::string& key, uint64_t offset, uint64_t length) {
  Backoff backoff(options_.retry, options_.seed + seq_.fetch_add(1));
  auto r = retry<RangeBytes>(
      backoff, clock_, sleeper_, [&](int) { return read_once(key, offset, length); },
      [&](const Status&) { stats_.retries.fetch_add(1); });
  if (!r.is_ok() && r.status().code() != Code::kNotFound) stats_.failures.fetch_add(1);
  return r;
}

}  // namespace thaw::cache
