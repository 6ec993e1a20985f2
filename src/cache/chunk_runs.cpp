#include "cache/chunk_runs.h"

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <span>
#include <thread>

#include "bundle/hash.h"
#include "cache/chunk_store.h"
#include "cache/fetch_io.h"
#include "cache/retry.h"

namespace thaw::cache {

namespace {

// A raw chunk streams through the buffer in pieces of this size (hot in the core's cache between
// the socket, the hash and the file).
// (thaw serve's CPU up to its first answer, MiniLM from a thaw cache: 0.13-0.15 s at 128-256 KiB, 0.19 s at 512 KiB,
// 0.31 s a whole 4 MiB chunk at a time.)
constexpr uint64_t kStreamPiece = 256 << 10;

// Streams one chunk from `in` into the file: raw in pieces, each hashed and written while hot, the
// id checked at its end (a chunk that fails is written again on the retry, and the file is renamed
// into place only once every chunk passed); compressed, decoded whole to be checked. A local write
// failure is left in `write_failed` and ends the retries (kCancelled).
Status stream_chunk(RangeStream& in, const RecipeChunk& c, std::vector<std::byte>& buf, const ChunkRunTarget& target,
                    Status& write_failed) {
  if (c.encoding == ChunkEncoding::kRaw) {
    if (c.length != c.stored_length)
      return make_error(Code::kCorrupt, "chunk {}: {} bytes stored for {}", c.id, c.stored_length, c.length);
    if (buf.size() < kStreamPiece) buf.resize(kStreamPiece);
    bundle::Xxh3Stream128 hash;
    for (uint64_t off = 0; off < c.stored_length;) {
      auto piece = std::span(buf).first(std::min<uint64_t>(kStreamPiece, c.stored_length - off));
      THAW_TRY(in.read(piece));
      hash.update(piece);
      write_failed = pwrite_all(target.fd, piece, c.file_offset + off, target.what);
      if (!write_failed.is_ok()) return make_error(Code::kCancelled, "writing failed");
      off += piece.size();
    }
    if (std::string got = hash.hex_digest(); got != c.id)
      return make_error(Code::kCorrupt, "chunk {}: bytes hash to {}", c.id, got);
  } else {
    if (buf.size() < c.stored_length) buf.resize(c.stored_length);
    auto piece = std::span(buf).first(c.stored_length);
    THAW_TRY(in.read(piece));
    THAW_TRY(verify_chunk(c.id, c.encoding, c.length, piece));
    write_failed = pwrite_all(target.fd, piece, c.file_offset, target.what);
    if (!write_failed.is_ok()) return make_error(Code::kCancelled, "writing failed");
  }
  // Start writing it back now, so a later fsync waits only for the last pieces.
  (void)::sync_file_range(target.fd, static_cast<off_t>(c.file_offset), static_cast<off_t>(c.stored_length),
                          SYNC_FILE_RANGE_WRITE);
  return Status::ok();
}

}  // namespace

std::vector<ChunkRun> plan_chunk_runs(const Recipe& recipe, std::vector<size_t> chunks, int parallel,
                                      uint64_t max_request_bytes) {
  std::sort(chunks.begin(), chunks.end(),
            [&](size_t a, size_t b) { return recipe.chunks[a].file_offset < recipe.chunks[b].file_offset; });
  uint64_t total = 0;
  for (size_t i : chunks) total += recipe.chunks[i].stored_length;
  const uint64_t per_request = std::min(std::max<uint64_t>((total + parallel - 1) / std::max(1, parallel), uint64_t{4} << 20),
                                        std::max<uint64_t>(max_request_bytes, 1));
  std::vector<ChunkRun> runs;
  for (size_t i : chunks) {
    const RecipeChunk& c = recipe.chunks[i];
    if (!runs.empty()) {
      ChunkRun& r = runs.back();
      const uint64_t end = r.offset + r.length;
      if (c.file_offset >= end && c.file_offset - end <= (64 << 10) && r.length < per_request) {
        r.length = c.file_offset + c.stored_length - r.offset;
        r.chunks.push_back(i);
        continue;
      }
    }
    runs.push_back(ChunkRun{c.file_offset, c.stored_length, {i}});
  }
  return runs;
}

Status fetch_chunk_runs(const ChunkRunTarget& target, const Recipe& recipe, const std::vector<ChunkRun>& runs,
                        int parallel) {
  Upstream& source = target.source;
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  Status failed;
  std::atomic<bool> stop{false};
  // Each worker streams its runs chunk by chunk through one buffer: a chunk is checked and written
  // while the next one is still arriving (the socket's buffer holds it), so memory is one chunk per
  // request in flight, and no byte is copied more than into the buffer and the file.
  auto work = [&] {
    std::vector<std::byte> buf;
    for (size_t k; !stop.load() && (k = next.fetch_add(1)) < runs.size();) {
      const ChunkRun& run = runs[k];
      size_t done = 0;  // chunks of the run written (a retry resumes after them)
      Status write_failed;
      Backoff backoff = source.backoff();
      auto got = retry<int>(
          backoff, source.clock(), source.sleeper(),
          [&](int) -> Result<int> {
            const uint64_t from = recipe.chunks[run.chunks[done]].file_offset, end = run.offset + run.length;
            THAW_ASSIGN_OR_RETURN(std::unique_ptr<RangeStream> in,
                                  source.open_range_once(target.path, from, end - from));
            if (in->length() != end - from)
              return make_error(Code::kCorrupt, "{} bytes of {} at offset {}", in->length(), end - from, from);
            uint64_t pos = from;
            for (; done < run.chunks.size(); ++done) {
              if (stop.load()) return make_error(Code::kCancelled, "another part of the fetch failed");
              const RecipeChunk& c = recipe.chunks[run.chunks[done]];
              if (c.file_offset > pos) THAW_TRY(in->skip(c.file_offset - pos));
              THAW_TRY(stream_chunk(*in, c, buf, target, write_failed));
              pos = c.file_offset + c.stored_length;
            }
            return 0;
          },
          [&](const Status&) { source.count_retry(); });
      Status s = !write_failed.is_ok() ? write_failed
                 : got.is_ok()         ? Status::ok()
                                       : source_error(got.status(), target.url);
      if (!s.is_ok()) {
        std::lock_guard lock(err_mu);
        if (failed.is_ok()) failed = s;
        stop.store(true);
      }
    }
  };
  std::vector<std::thread> threads;
  const int n = std::max(1, std::min<int>(parallel, static_cast<int>(runs.size())));
  for (int t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  return failed;
}

}  // namespace thaw::cache
