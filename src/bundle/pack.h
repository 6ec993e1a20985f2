// Turning a model file into the contents of a bundle: what every backend's packer shares (the
// PackedModel holder, warm-up requests from JSON, extra files).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bundle/bundle.h"
#include "bundle/mapped_file.h"

namespace thaw::bundle {

// BundleContents plus the memory its tensors borrow from. Not movable once filled: spans point
// into it, so it lives behind a unique_ptr.
struct PackedModel {
  BundleContents contents;
  std::deque<std::string> owned;         // raw bytes moved out of the input (stable addresses)
  std::deque<MappedFile> mappings;       // input files mapped read-only

  PackedModel() = default;
  PackedModel(const PackedModel&) = delete;
  PackedModel& operator=(const PackedModel&) = delete;

  // Keeps `bytes` alive for the bundle and returns a view of them.
  std::span<const std::byte> own(std::string bytes) {
    owned.push_back(std::move(bytes));
    return std::as_bytes(std::span(owned.back()));
  }
};

// Adds warm-up requests from a JSON file: one request object or an array of them, each mapping an
// input name to {"dtype": "INT64", "shape": [1, 4], "data": [101, 2023, 2003, 102]}. Request r's
// inputs are stored as files "warmup/<r>/<input>".
Status add_warmup_json(const std::string& json_text, PackedModel* model);

// Adds `path`'s bytes as a file named by its basename (tokenizer.json, config.json, ...); a folder
// adds every file under it as "<folder name>/<path inside it>" (a Hugging Face model folder).
Status add_extra_file(const std::string& path, PackedModel* model);

}  // namespace thaw::bundle
