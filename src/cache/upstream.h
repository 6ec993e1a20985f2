// The remote registry the cache sits in front of: any HTTP server holding bundles at
// {prefix}/{name}/{version}.thaw, or an S3-compatible endpoint (path-style, anonymous GET:
// {prefix}/{bucket}/{name}/{version}.thaw). Every read is a Range GET, retried with backoff on
// transient failures (timeouts, broken connections, 5xx, short or wrong-length bodies).
// Thread-safe: connections are pooled, one request per connection at a time.
//
// Peers: other nodes' `thaw cache`s, tried in order before the registry. A peer is asked for
// {prefix}/models/{name}/{version} with `Cache-Control: only-if-cached` (RFC 9111): it answers only
// from a version it holds whole (else 504) and never goes to its own registry on our behalf, so
// peers that list each other cannot loop. The first peer that answers an object's first read
// serves its other reads too; a peer that fails mid-way sends that object back to the registry.
// The chunks are verified against their checksums whoever sent them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/retry.h"
#include "common/clock.h"
#include "common/status.h"
#include "http/client.h"
#include "http/endpoint.h"

namespace thaw::cache {

// kHttp/kS3: a registry, keys map to {prefix}/{name}/{version}.thaw; kThawCache: a peer (see above);
// kExactPath: the key is the request path itself (a model's `source:` URL names its object whole).
enum class UpstreamKind { kHttp, kS3, kThawCache, kExactPath };

struct UpstreamOptions {
  std::string url;                 // "http://host:port[/prefix]"
  UpstreamKind kind = UpstreamKind::kHttp;
  std::string bucket;              // kS3 only
  std::chrono::milliseconds timeout{30'000};  // one request, connect to last byte
  RetryPolicy retry;
  uint64_t seed = 1;               // jitter
  std::vector<std::string> peers;  // "http://host:port" of other thaw caches, tried first, in order
};

struct UpstreamStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> failures{0};  // requests that failed for good
};

struct RangeBytes {
  std::string bytes;
  uint64_t total_size = 0;  // the object's size, from Content-Range
};

class Upstream;

// One range read whose body the caller takes in pieces, straight into its own memory (no buffer of
// the range's size). Holds a pooled connection: it goes back to the pool once the body was read to
// its end, and is closed otherwise. Not thread-safe.
class RangeStream {
 public:
  ~RangeStream();
  RangeStream(const RangeStream&) = delete;
  RangeStream& operator=(const RangeStream&) = delete;
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }      // bytes this answer carries (fewer only at the end)
  uint64_t total_size() const { return total_; }   // the object's size
  uint64_t left() const { return length_ - read_; }
  // Reads exactly out.size() more bytes (at most left()); a broken or stalled connection is
  // kUnavailable / kDeadlineExceeded.
  Status read(std::span<std::byte> out);
  // Reads and drops n bytes (a gap the caller does not need).
  Status skip(uint64_t n);

 private:
  friend class Upstream;
  // Takes the next `n` bytes into `out` (out.size() == n), or drops them (out empty).
  Status take(uint64_t n, std::span<std::byte> out);
  RangeStream(Upstream& owner, std::unique_ptr<http::Client> client, uint64_t offset, uint64_t length,
              uint64_t total, uint64_t discard)
      : owner_(owner), client_(std::move(client)), offset_(offset), length_(length), total_(total), discard_(discard) {}
  Upstream& owner_;
  std::unique_ptr<http::Client> client_;
  uint64_t offset_, length_, total_;
  uint64_t discard_;  // leading bytes of a 200 (whole object) before offset_
  uint64_t read_ = 0;
};

class Upstream {
 public:
  static Result<std::unique_ptr<Upstream>> create(UpstreamOptions options, const Clock& clock, Sleeper& sleeper);

  // The key of a version's bundle ("name/version"), for read() and read_once(); each source maps it
  // to its own path.
  std::string object_path(const std::string& name, const std::string& version) const;
  // Reads [offset, offset+length) of an object; fewer bytes only where the object ends first.
  // kNotFound for a missing object; kUnavailable / kDeadlineExceeded when retries ran out.
  Result<RangeBytes> read(const std::string& path, uint64_t offset, uint64_t length);

  // One attempt, no retry: for callers that retry a larger step (read, then verify).
  Result<RangeBytes> read_once(const std::string& path, uint64_t offset, uint64_t length);
  // One attempt at a range read whose body is streamed (see RangeStream); the same answers as
  // read_once, checked the same way before any byte of the body is read.
  Result<std::unique_ptr<RangeStream>> open_range_once(const std::string& path, uint64_t offset, uint64_t length);
  // A fresh backoff for one retried operation (seeded, distinct per call).
  Backoff backoff() { return Backoff(options_.retry, options_.seed + seq_.fetch_add(1)); }
  const Clock& clock() const { return clock_; }
  Sleeper& sleeper() { return sleeper_; }
  void count_retry() { stats_.retries.fetch_add(1); }
  void count_failure() { stats_.failures.fetch_add(1); }

  const UpstreamStats& stats() const { return stats_; }  // the registry's alone
  std::string describe() const;
  // The peers, in the order they are tried (their stats count what they served).
  const std::vector<std::unique_ptr<Upstream>>& peers() const { return peers_; }

 private:
  Upstream(UpstreamOptions options, http::Endpoint endpoint, std::string prefix, const Clock& clock, Sleeper& sleeper)
      : options_(std::move(options)), endpoint_(std::move(endpoint)), prefix_(std::move(prefix)), clock_(clock),
        sleeper_(sleeper) {}
  std::unique_ptr<http::Client> take_client();
  void give_client(std::unique_ptr<http::Client> c);
  std::string url_path(const std::string& key) const;
  // One request to this source alone (no peers).
  Result<RangeBytes> read_here(const std::string& key, uint64_t offset, uint64_t length);
  http::Headers request_headers() const;  // a peer is asked for what it holds only
  Result<std::unique_ptr<RangeStream>> open_here(const std::string& key, uint64_t offset, uint64_t length);
  // Sends a range read of `key` to the source that serves it (a peer first, see above): `here(up)`
  // asks one source.
  template <typename T, typename Here>
  Result<T> route(const std::string& key, Here here);
  // The response head of a range read, checked: the object's size, the leading bytes to drop (a 200
  // from a server without ranges), the bytes this answer carries for the range.
  struct RangeHead {
    uint64_t total = 0, discard = 0, length = 0;
  };
  Result<RangeHead> check_range_head(const http::ClientResponse& resp, const std::string& path, uint64_t offset,
                                     uint64_t length, uint64_t body_bytes);
  friend class RangeStream;
  // The peer serving `key` (index), -1 for the registry, nullopt when not yet chosen.
  std::optional<int> chosen(const std::string& key);
  void choose(const std::string& key, int source);

  UpstreamOptions options_;
  http::Endpoint endpoint_;
  std::string prefix_;
  const Clock& clock_;
  Sleeper& sleeper_;
  std::mutex mu_;
  std::vector<std::unique_ptr<http::Client>> idle_;
  std::atomic<uint64_t> seq_{0};
  UpstreamStats stats_;
  std::vector<std::unique_ptr<Upstream>> peers_;
  std::mutex choice_mu_;
  std::map<std::string, int> choice_;  // bounded: cleared past 4096 objects
};

// Parses "bytes a-b/total" (the Content-Range of a 206).
bool parse_content_range(std::string_view v, uint64_t* first, uint64_t* last, uint64_t* total);

}  // namespace thaw::cache
