#include "cache/upstream.h"

#include <charconv>

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

Result<RangeBytes> Upstream::read_once(const std::string& key, uint64_t offset, uint64_t length) {
  if (peers_.empty()) return read_here(key, offset, length);
  const std::optional<int> was = chosen(key);
  if (was && *was >= 0) {
    auto r = peers_[static_cast<size_t>(*was)]->read_here(key, offset, length);
    if (r.is_ok() || r.status().code() == Code::kInvalidArgument) return r;
    choose(key, -1);  // the peer failed mid-way: the registry serves the rest
  } else if (!was) {
    for (size_t i = 0; i < peers_.size(); ++i) {
      auto r = peers_[i]->read_here(key, offset, length);
      if (r.is_ok()) {
        choose(key, static_cast<int>(i));
        return r;
      }
    }
    choose(key, -1);
  }
  return read_here(key, offset, length);
}

Result<RangeBytes> Upstream::read_here(const std::string& key, uint64_t offset, uint64_t length) {
  const std::string path = url_path(key);
  auto client = take_client();
  stats_.requests.fetch_add(1);
  http::Headers headers;
  if (options_.kind == UpstreamKind::kThawCache) headers.emplace_back("Cache-Control", "only-if-cached");
  auto r = client->get_range(path, offset, length, std::move(headers));
  if (!r.is_ok()) return r.status();  // the broken client is dropped
  const http::ClientResponse& resp = *r;
  if (resp.status == 404) {
    give_client(std::move(client));
    return make_error(Code::kNotFound, "upstream has no {}", path);
  }
  if (resp.status == 416) {
    give_client(std::move(client));
    return make_error(Code::kInvalidArgument, "upstream: range {}+{} is past the end of {}", offset, length, path);
  }
  if (resp.status >= 500 || resp.status == 429 || resp.status == 408)
    return make_error(Code::kUnavailable, "upstream answered {} for {}", resp.status, path);
  RangeBytes out;
  if (resp.status == 200) {  // a server without range support sends the whole object
    out.total_size = resp.body.size();
    if (offset > resp.body.size()) return make_error(Code::kInvalidArgument, "range past the end of {}", path);
    out.bytes = resp.body.substr(offset, length);
  } else if (resp.status == 206) {
    uint64_t first = 0, last = 0, total = 0;
    auto cr = resp.header("Content-Range");
    if (!cr || !parse_content_range(*cr, &first, &last, &total))
      return make_error(Code::kCorrupt, "upstream sent a 206 without a valid Content-Range for {}", path);
    uint64_t want_last = std::min(offset + length, total) - 1;
    if (first != offset || last != want_last || resp.body.size() != last - first + 1)
      return make_error(Code::kCorrupt, "upstream sent bytes {}-{} ({} in body) for {}-{} of {}", first, last,
                        resp.body.size(), offset, want_last, path);
    out.total_size = total;
    out.bytes = std::move(const_cast<std::string&>(resp.body));
  } else {
    return make_error(Code::kUnavailable, "upstream answered {} for {}", resp.status, path);
  }
  stats_.bytes.fetch_add(out.bytes.size());
  give_client(std::move(client));
  return out;
}

Result<RangeBytes> Upstream::read(const std::string& key, uint64_t offset, uint64_t length) {
  Backoff backoff(options_.retry, options_.seed + seq_.fetch_add(1));
  auto r = retry<RangeBytes>(
      backoff, clock_, sleeper_, [&](int) { return read_once(key, offset, length); },
      [&](const Status&) { stats_.retries.fetch_add(1); });
  if (!r.is_ok() && r.status().code() != Code::kNotFound) stats_.failures.fetch_add(1);
  return r;
}

}  // namespace thaw::cache
