// Which bundle files have passed a full verify(): one empty marker file per bundle, named for
// the file's device, inode, size and modification time, so a bundle is checked completely on its
// first start and not again until the file changes (rewritten, replaced, touched).
#pragma once

#include <string>

#include <sys/stat.h>

#include "common/status.h"

namespace thaw::bundle {

class VerifiedCache {
 public:
  // Markers go in `dir` (created on first mark()). An empty dir: nothing is ever cached.
  explicit VerifiedCache(std::string dir) : dir_(std::move(dir)) {}
  // $THAW_VERIFY_CACHE, else $XDG_CACHE_HOME/thaw/verified, else $HOME/.cache/thaw/verified.
  static std::string default_dir();

  // The marker's name for a bundle file as it is now; kNotFound/kIo when it cannot be stat'ed.
  static Result<std::string> key(const std::string& bundle_path);
  // The same name from a stat (of an open file, say).
  static std::string key(const struct stat& st);
  // Whether the file as it is now passed verify() before.
  bool verified(const std::string& bundle_path) const;
  // Records that the file as it was when `key` was taken passed verify().
  Status mark(const std::string& key) const;
  // Drops the marker of the file as it is now, if any (its bytes are no longer vouched for).
  void forget(const std::string& bundle_path) const;

 private:
  std::string dir_;
};

}  // namespace thaw::bundle
