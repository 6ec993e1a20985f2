#include "bundle/bundle.h"

namespace thaw::bundle {

const TensorEntry* Manifest::find_tensor(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const FileEntry* Manifest::find_file(std::string_view name) const {
  for (const auto& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace thaw::bundle
