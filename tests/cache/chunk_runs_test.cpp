// How a fetch groups the chunks it reads into range requests (plan_chunk_runs); the requests
// themselves are exercised through fetch_bundle (bundle_fetch_test.cpp).
#include "cache/chunk_runs.h"

#include <gtest/gtest.h>

namespace thaw::cache {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// `n` chunks of `length` bytes, `gap` bytes apart.
Recipe chunks_of(size_t n, uint64_t length, uint64_t gap = 0) {
  Recipe r;
  uint64_t at = 4096;
  for (size_t i = 0; i < n; ++i) {
    r.chunks.push_back({"id" + std::to_string(i), ChunkEncoding::kRaw, length, at, length});
    at += length + gap;
  }
  r.file_size = at;
  return r;
}

std::vector<size_t> all(const Recipe& r) {
  std::vector<size_t> v;
  for (size_t i = 0; i < r.chunks.size(); ++i) v.push_back(i);
  return v;
}

TEST(ChunkRuns, AdjacentChunksShareARequestInFileOrder) {
  const Recipe r = chunks_of(3, 64 << 10);
  auto runs = plan_chunk_runs(r, {2, 0, 1}, 4, 256 * kMiB);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].chunks, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(runs[0].offset, r.chunks[0].file_offset);
  EXPECT_EQ(runs[0].length, 3u * (64 << 10));
}

TEST(ChunkRuns, ASmallGapIsReadThroughALargeOneSplits) {
  const Recipe near = chunks_of(2, 64 << 10, 64 << 10);
  auto runs = plan_chunk_runs(near, all(near), 4, 256 * kMiB);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].length, 3u * (64 << 10));
  const Recipe far = chunks_of(2, 64 << 10, (64 << 10) + 1);
  EXPECT_EQ(plan_chunk_runs(far, all(far), 4, 256 * kMiB).size(), 2u);
  // A chunk left out (copied from a local bundle) splits the run too.
  const Recipe three = chunks_of(3, 1 * kMiB);
  EXPECT_EQ(plan_chunk_runs(three, {0, 2}, 4, 256 * kMiB).size(), 2u);
}

TEST(ChunkRuns, TheRequestsInFlightShareTheBytes) {
  const Recipe r = chunks_of(32, 1 * kMiB);  // 32 MiB over 4 requests: 8 MiB each
  auto runs = plan_chunk_runs(r, all(r), 4, 256 * kMiB);
  ASSERT_EQ(runs.size(), 4u);
  size_t chunks = 0;
  for (const ChunkRun& run : runs) {
    EXPECT_EQ(run.length, 8 * kMiB);
    chunks += run.chunks.size();
  }
  EXPECT_EQ(chunks, 32u);
  // Never under 4 MiB a request: 8 MiB over 4 requests is 2 runs.
  const Recipe small = chunks_of(8, 1 * kMiB);
  EXPECT_EQ(plan_chunk_runs(small, all(small), 4, 256 * kMiB).size(), 2u);
}

TEST(ChunkRuns, NeverOverTheLargestRequest) {
  const Recipe r = chunks_of(8, 1 * kMiB);
  auto runs = plan_chunk_runs(r, all(r), 1, 2 * kMiB);
  ASSERT_EQ(runs.size(), 4u);
  for (const ChunkRun& run : runs) EXPECT_LE(run.length, 2 * kMiB);
  // Below the 4 MiB floor, the caller's limit still wins.
  auto one_each = plan_chunk_runs(r, all(r), 4, 1 * kMiB);
  EXPECT_EQ(one_each.size(), 8u);
}

TEST(ChunkRuns, NothingToFetchIsNoRun) {
  const Recipe r = chunks_of(2, 1 * kMiB);
  EXPECT_TRUE(plan_chunk_runs(r, {}, 4, 256 * kMiB).empty());
}

}  // namespace
}  // namespace thaw::cache
