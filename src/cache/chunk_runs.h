// The part of a bundle fetch that reads chunks from the source (fetch_bundle's phases): chunks
// adjacent in the file are grouped into runs, one range request each, sized so the requests in
// flight share the bytes; each run streams chunk by chunk through one buffer, every chunk checked
// against its id and written at its offset, and a failed request resumes at the chunk it broke in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cache/recipe.h"
#include "cache/upstream.h"
#include "common/status.h"

namespace thaw::cache {

// A range of the source file holding one or more chunks (indices into Recipe::chunks, in file order).
struct ChunkRun {
  uint64_t offset = 0, length = 0;
  std::vector<size_t> chunks;
};

// Groups `chunks` (indices into `recipe.chunks`, any order) into runs: adjacent chunks, or ones
// with a literal gap of at most 64 KiB between them, share a run, which takes another chunk while
// it is shorter than the fetch's bytes split over `parallel` requests (at least 4 MiB, and at most
// `max_request_bytes`).
std::vector<ChunkRun> plan_chunk_runs(const Recipe& recipe, std::vector<size_t> chunks, int parallel,
                                      uint64_t max_request_bytes);

// Where the runs' bytes come from and go to.
struct ChunkRunTarget {
  Upstream& source;
  std::string path;  // on the source
  std::string url;   // for errors
  int fd = -1;       // the file being written (chunks land at their file offsets)
  std::string what;  // the file's name, for errors
};

// Fetches `runs` on up to `parallel` threads (the caller's among them). The first failure stops
// the rest and is returned: kUpstream / kUnavailable naming the source (source_error), or the
// local write's error.
Status fetch_chunk_runs(const ChunkRunTarget& target, const Recipe& recipe, const std::vector<ChunkRun>& runs,
                        int parallel);

}  // namespace thaw::cache
