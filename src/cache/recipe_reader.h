// Reads a bundle's recipe through any ranged reader: the first bytes (grown while the manifest is
// longer), then the literal bytes past them. The cache uses it on its upstream; `thaw serve`'s model
// store on a source and on the bundles it already holds (to find the chunks a new version shares).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cache/recipe.h"
#include "cache/upstream.h"
#include "common/status.h"

namespace thaw::cache {

// Reads [offset, offset+length) of the bundle (fewer bytes only where the file ends); the total
// size comes with every answer.
using RangeReader = std::function<Result<RangeBytes>(uint64_t offset, uint64_t length)>;

// The recipe of the bundle `read` reaches. `where` names it in errors. kCorrupt when the bytes are
// not a bundle or end early.
Result<Recipe> read_recipe(const std::string& name, const std::string& version, const RangeReader& read,
                           uint64_t probe_bytes, const std::string& where);

// A reader over a local file (pread).
Result<Recipe> read_local_recipe(const std::string& path, const std::string& name, const std::string& version);

}  // namespace thaw::cache
