#include "cache/version_body.h"

namespace thaw::cache {

VersionBody::VersionBody(CacheService& service, std::shared_ptr<const VersionLease> lease, uint64_t first,
                         uint64_t end, uint64_t max_piece)
    : service_(service), lease_(std::move(lease)), pos_(first), end_(end), max_piece_(max_piece) {
  if (pos_ < end_) extent_ = lease_->recipe().extent_at(pos_);
}

bool VersionBody::ready() const {
  if (pos_ >= end_ || extent().chunk < 0) return true;
  return service_.store().contains(lease_->recipe().chunks[static_cast<size_t>(extent().chunk)].key());
}

Status VersionBody::wait() {
  if (pos_ >= end_ || extent().chunk < 0) return Status::ok();
  return service_.ensure_chunk(lease_->recipe(), static_cast<size_t>(extent().chunk));
}

Result<std::optional<Piece>> VersionBody::next() {
  if (pos_ >= end_) return std::optional<Piece>();
  const Recipe& r = lease_->recipe();
  const Extent& e = extent();
  const uint64_t within = pos_ - e.offset;
  const uint64_t n = std::min({end_, e.offset + e.length, pos_ + max_piece_}) - pos_;
  Piece p;
  if (e.chunk < 0) {
    p.bytes = r.literal.substr(e.literal_offset + within, n);
  } else {
    THAW_ASSIGN_OR_RETURN(p.file, service_.store().open_read(r.chunks[static_cast<size_t>(e.chunk)].key()));
    p.offset = within;
    p.length = n;
  }
  pos_ += n;
  if (pos_ == e.offset + e.length) ++extent_;
  return std::optional<Piece>(std::move(p));
}

}  // namespace thaw::cache
