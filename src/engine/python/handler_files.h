// A Python handler's files on disk: the bundle's files unpacked once into a cache folder named for
// their content, so the interpreter imports the module and the handler opens its files by path.
#pragma once

#include <string>

#include "bundle/bundle.h"
#include "common/status.h"

namespace thaw::engine {

// The manifest summary written beside the files ({"name", "version", "metadata"}).
inline constexpr std::string_view kHandlerManifestFile = ".thaw-manifest.json";

// $THAW_PYTHON_CACHE, else $XDG_CACHE_HOME/thaw/handlers, else $HOME/.cache/thaw/handlers.
std::string default_handler_cache();

// Unpacks every file of `reader`'s bundle under `cache_root`/<content key>/ and returns that
// folder. The key is a hash of the files' names and checksums, so an unchanged bundle is unpacked
// once and a changed one gets a new folder. Each file's bytes are checked against its checksum.
// Written to a temporary folder and renamed, so concurrent starts and crashes never leave a
// partial folder behind. kCorrupt for a file name that would leave the folder ("..", absolute)
// or a checksum mismatch; kIo when the cache cannot be written.
Result<std::string> unpack_handler(const bundle::Reader& reader, const std::string& cache_root);

}  // namespace thaw::engine
