// Post-load passes over the loaded bytes: touching every page, checking checksums.
#pragma once

#include <cstdint>
#include <span>

#include "bundle/bundle.h"
#include "common/status.h"

namespace thaw::loader {

// Reads one byte of every 4 KiB page with `threads` threads so each page is resident and mapped.
// Returns a value derived from the bytes read so the reads cannot be optimised away.
uint64_t touch_pages(std::span<const std::byte> bytes, int threads);

// Checks every chunk id (xxh3-128), tensor and file checksum (xxh3-64) against `data`, the whole
// logical data section. kCorrupt names the first mismatch.
Status verify_checksums(const bundle::Manifest& manifest, std::span<const std::byte> data, int threads);

}  // namespace thaw::loader
