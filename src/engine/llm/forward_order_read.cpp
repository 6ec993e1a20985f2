#include "engine/llm/forward_order_read.h"

#include <fcntl.h>
#include <gguf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace thaw::engine {
namespace {

struct Range {
  uint64_t rank = 0;  // position in the forward pass
  uint64_t begin = 0, end = 0;
};

// token_embd first, then blk.N by N, then everything else (output_norm, output, ...).
uint64_t forward_rank(const char* name) {
  if (std::strncmp(name, "token_embd", 10) == 0) return 0;
  if (std::strncmp(name, "blk.", 4) == 0) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(name + 4, &end, 10);
    if (end != name + 4 && *end == '.') return 1 + n;
  }
  return UINT64_MAX;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
struct GgufFree {
  void operator()(gguf_context* g) const { gguf_free(g); }
};

}  // namespace

ForwardOrderRead::ForwardOrderRead(const std::string& path, uint64_t offset)
    : thread_([this, path, offset] { run(path, offset); }) {}

ForwardOrderRead::~ForwardOrderRead() {
  stop_ = true;
  join();
}

void ForwardOrderRead::join() {
  if (thread_.joinable()) thread_.join();
}

void ForwardOrderRead::run(const std::string& path, uint64_t offset) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rbe"));
  if (!file || ::fseeko(file.get(), static_cast<off_t>(offset), SEEK_SET) != 0) return;
  gguf_init_params params{.no_alloc = true, .ctx = nullptr};
  std::unique_ptr<gguf_context, GgufFree> g(gguf_init_from_file_ptr(file.get(), params));
  if (!g) return;
  const int fd = ::fileno(file.get());
  const uint64_t data = offset + gguf_get_data_offset(g.get());
  std::vector<Range> ranges;
  const off_t file_size = ::lseek(fd, 0, SEEK_END);
  if (file_size <= 0) return;
  const uint64_t size = static_cast<uint64_t>(file_size);
  for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); ++i) {
    const uint64_t begin = data + gguf_get_tensor_offset(g.get(), i);
    const uint64_t length = gguf_get_tensor_size(g.get(), i);
    if (begin >= size) continue;  // a damaged file: llama.cpp's load says so
    ranges.push_back({forward_rank(gguf_get_tensor_name(g.get(), i)), begin, begin + std::min(length, size - begin)});
  }
  std::stable_sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.begin < b.begin;
  });
  // Adjacent ranges of consecutive ranks merge into one read.
  std::vector<Range> merged;
  for (const Range& r : ranges) {
    if (!merged.empty() && merged.back().end == r.begin)
      merged.back().end = r.end;
    else
      merged.push_back(r);
  }
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* map = ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_SHARED, fd, 0);  // for mincore only
  constexpr uint64_t kChunk = 4 << 20;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  std::vector<unsigned char> incore(kChunk / page + 2);
  for (const Range& r : merged) {
    for (uint64_t at = r.begin; at < r.end && !stop_.load(std::memory_order_relaxed);) {
      const uint64_t n = std::min(kChunk, r.end - at);
      if (map != MAP_FAILED) {
        const uint64_t first = at / page * page;
        const uint64_t len = at + n - first;
        if (::mincore(static_cast<char*>(map) + first, len, incore.data()) == 0 &&
            std::all_of(incore.begin(), incore.begin() + static_cast<ptrdiff_t>((len + page - 1) / page),
                        [](unsigned char c) { return (c & 1) != 0; })) {
          resident_ += n;
          at += n;
          continue;
        }
      }
      // A plain read: readahead(2) and MADV_WILLNEED queue the same pages without the copy, but
      // measured here they reach the end later than reads do (bench/llm.sh, docs/llm.md).
      const ssize_t got = ::pread(fd, buf.get(), n, static_cast<off_t>(at));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      read_ += static_cast<uint64_t>(got);
      at += static_cast<uint64_t>(got);
    }
  }
  if (map != MAP_FAILED) ::munmap(map, static_cast<size_t>(file_size));
}

}  // namespace thaw::engine
