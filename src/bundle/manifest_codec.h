// The manifest's JSON encoding and its validation against the header (docs/format.md).
#pragma once

#include <string>
#include <string_view>

#include "bundle/bundle.h"
#include "bundle/format.h"

namespace thaw::bundle {

// Serializes the manifest (data_offset excluded: the header carries it). Fails only on names or
// metadata that are not valid UTF-8.
Result<std::string> encode_manifest(const Manifest& m);

// Parses and validates every field: types, counts, names, dtype x shape sizes, alignment,
// overlaps, chunk tiling and chunk storage against `header`. Errors name the field or tensor.
Result<Manifest> decode_manifest(std::string_view json, const Header& header);

}  // namespace thaw::bundle
