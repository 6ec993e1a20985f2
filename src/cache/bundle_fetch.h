// Fetches one bundle from a source (a `thaw cache`, or any HTTP server holding bundles that honours
// byte ranges) into a local file, by its content-addressed chunks: a chunk a local bundle already
// holds (an earlier version of the same model) is copied from disk, the rest are read by range in
// parallel. Every chunk is checked against its id, the whole file against an optional SHA-256, and
// the file appears only when complete: written to a temp file beside it, then renamed. With
// `durable` (the default) the file is fsynced before the rename and the directory after it; without,
// the rename does not wait for the disk (the verified bytes sit in the page cache) and the caller
// calls sync_file_and_dir() later, vouching for the copy after a crash only once that returned
// (manager/store_durability.h). A failure leaves nothing behind.
//
// Errors name the cause: kUpstream (the source has no such bundle, or sent bytes that never
// verified, or the file's hash differs), kUnavailable (the source cannot be reached or timed out),
// kNoSpace (the local disk is full), kIo (another local write failure).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bundle/bundle.h"
#include "cache/upstream.h"
#include "common/status.h"

namespace thaw::cache {

// A source URL split for Upstream: "http://HOST:PORT" and the bundle's path there.
struct SourceUrl {
  std::string base;     // http://host:port
  std::string path;     // /models/NAME/VERSION or /.../NAME/VERSION.thaw
  std::string version;  // the last path segment, without ".thaw"
};
// kInvalidArgument unless http://HOST[:PORT]/PATH with a safe last segment.
Result<SourceUrl> parse_source_url(std::string_view url);

// "sha256:<64 hex>" or "<64 hex>" -> the lower-case hex digest; kInvalidArgument otherwise.
Result<std::string> parse_sha256(std::string_view text);
// SHA-256 of a file as lower-case hex.
Result<std::string> sha256_of_file(const std::string& path);

struct BundleFetchOptions {
  int parallel = 4;                  // range reads in flight
  // Largest range one request asks for. Ranges are streamed chunk by chunk, so memory is one chunk
  // per request in flight whatever this is; a fetch's requests share its bytes (down to 4 MiB each).
  uint64_t piece_bytes = uint64_t{256} << 20;
  uint64_t head_probe_bytes = 256 << 10;  // grown while the manifest is longer
  std::string sha256;                // expected hash of the whole file (hex); "": not checked
  std::vector<std::string> local;    // bundles on disk whose chunks may be reused
  bool durable = true;               // fsync before the rename; false: the caller syncs later
  // Called once the bundle's size is known, before any byte is written (so before the download):
  // an error ends the fetch with that error (a disk budget that cannot make room). Optional.
  std::function<Status(uint64_t file_bytes)> reserve;
  // Start while fetching (optional, both): `first_ranges` gets the bundle's manifest once the head
  // and literal bytes are written, and names the byte ranges of the file (offset, length) a start
  // needs. When it names any, the chunks covering them are fetched first (checked and written like
  // every chunk); then `on_first_phase` is called with the temp file's path, on the fetch's thread,
  // and the rest is fetched once it returns (it may wait for what it started). The temp file keeps
  // its inode when renamed into place; on a failure it is deleted. Neither is called when the fetch
  // fails first.
  std::function<std::vector<std::pair<uint64_t, uint64_t>>(const bundle::Manifest&)> first_ranges;
  std::function<void(const std::string& temp_path)> on_first_phase;
};

struct BundleFetchReport {
  uint64_t file_bytes = 0;
  uint64_t fetched_bytes = 0;  // read from the source (head included)
  uint64_t reused_bytes = 0;   // chunk bytes copied from local bundles
  uint64_t chunks = 0, chunks_reused = 0;
  uint64_t requests = 0;       // range reads sent to the source
  double head_seconds = 0.0;   // the first read: the source's latency
  double seconds = 0.0;        // the whole fetch
  double first_phase_seconds = 0.0;  // to on_first_phase (0: not called)
  double first_phase_wait_seconds = 0.0;  // inside on_first_phase (no byte moved: not the source's speed)
  uint64_t first_phase_bytes = 0;    // chunk bytes fetched before it
};

// Fetches `path` on `source` into `dest` (replaced atomically if present).
Result<BundleFetchReport> fetch_bundle(Upstream& source, const std::string& path, const std::string& dest,
                                       const BundleFetchOptions& options);

// fsyncs a file and then its directory (what a fetch without `durable` left to its caller).
Status sync_file_and_dir(const std::string& path);

}  // namespace thaw::cache
