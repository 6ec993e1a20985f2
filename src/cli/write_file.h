// Writes a whole text file for a subcommand's outputs (results, profiles), errors as values.
#pragma once

#include <fstream>
#include <string>

#include "common/status.h"

namespace thaw::cli {

inline Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(Code::kIo, "cannot write {}", path);
  out << text;
  out.close();
  if (!out) return make_error(Code::kIo, "writing {} failed", path);
  return Status::ok();
}

}  // namespace thaw::cli
