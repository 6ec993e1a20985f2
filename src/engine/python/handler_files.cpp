#include "engine/python/handler_files.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bundle/hash.h"
#include "engine/python/handler_path.h"

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;

std::string content_key(const bundle::Manifest& m) {
  bundle::Xxh3Stream128 h;
  auto add = [&h](std::string_view s) {
    h.update(std::as_bytes(std::span(s.data(), s.size())));
    h.update_zeros(1);
  };
  add(m.name);
  add(m.version);
  add(m.metadata.dump());
  for (const auto& f : m.files) {
    add(f.name);
    add(bundle::checksum_hex(f.checksum));
  }
  return h.hex_digest();
}

Status write_file(const fs::path& path, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return make_error(Code::kIo, "creating {}: {}", path.parent_path().string(), ec.message());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return make_error(Code::kIo, "writing {} failed", path.string());
  return Status::ok();
}

Status unpack_into(const bundle::Reader& reader, const fs::path& dir) {
  const bundle::Manifest& m = reader.manifest();
  for (const auto& f : m.files) {
    if (!is_safe_handler_path(f.name))
      return make_error(Code::kCorrupt, "bundle file name '{}' would leave the handler's folder", f.name);
    THAW_ASSIGN_OR_RETURN(std::string bytes, reader.read_file(f.name));
    if (bundle::xxh3_64(std::as_bytes(std::span(bytes.data(), bytes.size()))) != f.checksum)
      return make_error(Code::kCorrupt, "file '{}' does not match its checksum", f.name);
    THAW_TRY(write_file(dir / f.name, bytes));
  }
  const nlohmann::json summary = {{"name", m.name}, {"version", m.version}, {"metadata", m.metadata}};
  return write_file(dir / std::string(kHandlerManifestFile), summary.dump());
}

}  // namespace

std::string default_handler_cache() {
  if (const char* v = std::getenv("THAW_PYTHON_CACHE"); v != nullptr && *v != '\0') return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v != nullptr && *v != '\0')
    return std::string(v) + "/thaw/handlers";
  if (const char* v = std::getenv("HOME"); v != nullptr && *v != '\0')
    return std::string(v) + "/.cache/thaw/handlers";
  return "/tmp/thaw-handlers";
}

Result<std::string> unpack_handler(const bundle::Reader& reader, const std::string& cache_root) {
  const fs::path final_dir = fs::path(cache_root) / content_key(reader.manifest());
  std::error_code ec;
  if (fs::exists(final_dir / std::string(kHandlerManifestFile), ec)) return final_dir.string();
  fs::create_directories(cache_root, ec);
  if (ec)
    return make_error(Code::kIo, "creating the handler cache {}: {} (set THAW_PYTHON_CACHE)", cache_root,
                      ec.message());
  const fs::path tmp =
      fs::path(cache_root) / fmt::format(".unpack-{}-{}", ::getpid(), final_dir.filename().string());
  fs::remove_all(tmp, ec);
  Status s = unpack_into(reader, tmp);
  if (!s.is_ok()) {
    fs::remove_all(tmp, ec);
    return s.with_context(fmt::format("unpacking {} into {}", reader.path(), cache_root));
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) {  // another start unpacked the same bundle first: use theirs
    fs::remove_all(tmp, ec);
    if (!fs::exists(final_dir / std::string(kHandlerManifestFile)))
      return make_error(Code::kIo, "unpacking {} into {} failed", reader.path(), final_dir.string());
  }
  return final_dir.string();
}

}  // namespace thaw::engine
