#include "cache/recipe_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace thaw::cache {

Result<Recipe> read_recipe(const std::string& name, const std::string& version, const RangeReader& read,
                           uint64_t probe_bytes, const std::string& where) {
  THAW_ASSIGN_OR_RETURN(RangeBytes head, read(0, probe_bytes));
  const uint64_t size = head.total_size;
  std::vector<LiteralGap> missing;
  for (;;) {
    auto r = recipe_from_bundle_head(name, version, std::as_bytes(std::span(head.bytes)), size, &missing);
    if (r.is_ok()) {
      for (const auto& gap : missing) {
        THAW_ASSIGN_OR_RETURN(RangeBytes more, read(gap.offset, gap.length));
        if (more.bytes.size() != gap.length)
          return make_error(Code::kCorrupt, "{} ended early at {}", where, gap.offset + more.bytes.size());
        fill_literal(&*r, gap.offset, std::as_bytes(std::span(more.bytes)));
      }
      return r;
    }
    if (r.status().code() != Code::kResourceExhausted || head.bytes.size() >= size)
      return r.status().with_context(fmt::format("bundle {}", where));
    // The manifest is longer than the probe: read on.
    uint64_t from = head.bytes.size();
    THAW_ASSIGN_OR_RETURN(RangeBytes more, read(from, std::min(size, from * 2) - from));
    if (more.bytes.empty()) return make_error(Code::kCorrupt, "{} ended early at {}", where, from);
    head.bytes += more.bytes;
  }
}

Result<Recipe> read_local_recipe(const std::string& path, const std::string& name, const std::string& version) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return make_error(Code::kIo, "cannot open {}: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(Code::kIo, "cannot stat {}: {}", path, std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  RangeReader read = [&](uint64_t offset, uint64_t length) -> Result<RangeBytes> {
    RangeBytes out;
    out.total_size = size;
    if (offset >= size) return out;
    out.bytes.resize(std::min(length, size - offset));
    uint64_t done = 0;
    while (done < out.bytes.size()) {
      ssize_t n = ::pread(fd.get(), out.bytes.data() + done, out.bytes.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return make_error(Code::kIo, "cannot read {}: {}", path, n < 0 ? std::strerror(errno) : "short file");
      done += static_cast<uint64_t>(n);
    }
    return out;
  };
  return read_recipe(name, version, read, 1 << 20, path);
}

}  // namespace thaw::cache
