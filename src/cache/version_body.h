// The body of a GET of a cached version: bytes [first, end) of its bundle file rebuilt from its
// recipe, as pieces for a BodyStream: literal bytes (header, manifest, padding) from memory,
// chunks as ranges of their files in the store (sent by sendfile). A piece whose chunk is not
// stored yet is ready only after wait() has it fetched, or finds that another request's fetch
// stored it. Holds the version's lease, so nothing it serves is evicted meanwhile.
#pragma once

#include <cstdint>
#include <memory>

#include "cache/body_stream.h"
#include "cache/cache_service.h"

namespace thaw::cache {

class VersionBody final : public PieceSource {
 public:
  // Pieces are at most `max_piece` bytes (bounds a literal copy and one write's duration).
  VersionBody(CacheService& service, std::shared_ptr<const VersionLease> lease, uint64_t first, uint64_t end,
              uint64_t max_piece);
  bool ready() const override;
  Status wait() override;  // ensure_chunk: blocks while the chunk is fetched
  Result<std::optional<Piece>> next() override;

 private:
  const Extent& extent() const { return lease_->recipe().extents[extent_]; }

  CacheService& service_;
  std::shared_ptr<const VersionLease> lease_;
  uint64_t pos_, end_, max_piece_;
  size_t extent_ = 0;  // the extent holding pos_ (while pos_ < end_)
};

}  // namespace thaw::cache
