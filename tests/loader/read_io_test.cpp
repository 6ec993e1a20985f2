#include "loader/read_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "loader/mapping.h"
#include "loader/page_cache.h"

namespace thaw::loader {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::vector<std::byte>& bytes) {
    char tmpl[] = "/tmp/thaw_read_io_XXXXXX";
    int fd = ::mkstemp(tmpl);
    path_ = tmpl;
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
  return v;
}

TEST(ReadIo, ParallelPreadReadsTheExactRangeWithAnyThreadCount) {
  auto bytes = random_bytes((3 << 20) + 12345, 1);
  TempFile f(bytes);
  UniqueFd fd(::open(f.path().c_str(), O_RDONLY));
  ASSERT_TRUE(fd.valid());
  for (int threads = 1; threads <= 4; ++threads) {
    for (uint64_t block : {uint64_t{4096}, uint64_t{100000}, uint64_t{8 << 20}}) {
      const uint64_t offset = 777;
      std::vector<std::byte> dest(bytes.size() - offset - 5);
      ASSERT_TRUE(pread_parallel(fd.get(), offset, dest, threads, block).is_ok());
      ASSERT_TRUE(std::equal(dest.begin(), dest.end(), bytes.begin() + offset))
          << threads << " threads, block " << block;
    }
  }
}

TEST(ReadIo, IoUringReadsTheSameBytes) {
  auto bytes = random_bytes((5 << 20) + 999, 2);
  TempFile f(bytes);
  UniqueFd fd(::open(f.path().c_str(), O_RDONLY));
  for (unsigned depth : {1u, 2u, 8u}) {
    std::vector<std::byte> dest(bytes.size());
    Status s = read_io_uring(fd.get(), 0, dest, 1 << 20, depth);
    if (s.code() == Code::kIo && s.message().find("io_uring_queue_init") != std::string::npos)
      GTEST_SKIP() << "io_uring unavailable here: " << s.to_string();
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    ASSERT_EQ(dest, bytes) << "queue depth " << depth;
  }
}

TEST(ReadIo, ReadingPastTheEndIsCorruptNotAHang) {
  auto bytes = random_bytes(10000, 3);
  TempFile f(bytes);
  UniqueFd fd(::open(f.path().c_str(), O_RDONLY));
  std::vector<std::byte> dest(20000);
  Status s = pread_parallel(fd.get(), 0, dest, 2, 4096);
  EXPECT_EQ(s.code(), Code::kCorrupt) << s.to_string();
  Status u = read_io_uring(fd.get(), 0, dest, 4096, 4);
  if (u.message().find("io_uring_queue_init") == std::string::npos) EXPECT_EQ(u.code(), Code::kCorrupt);
}

TEST(ReadIo, BadDescriptorIsAnIoError) {
  std::vector<std::byte> dest(100);
  EXPECT_EQ(pread_parallel(-1, 0, dest, 2, 4096).code(), Code::kIo);
}

TEST(Mapping, AllocationIsAlignedZeroedAndWritable) {
  auto m = Mapping::allocate((3 << 20) + 5, true);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m->bytes().data()) % kHugePageSize, 0u);
  EXPECT_EQ(m->size(), (3u << 20) + 5);
  for (size_t i = 0; i < m->size(); i += 4096) EXPECT_EQ(m->bytes()[i], std::byte{0});
  m->writable()[m->size() - 1] = std::byte{42};
  Mapping moved = std::move(*m);
  EXPECT_EQ(moved.bytes()[moved.size() - 1], std::byte{42});
  EXPECT_EQ(m->size(), 0u);
}

TEST(Mapping, FileMappingAtAnUnalignedOffsetSeesTheFileBytes) {
  auto bytes = random_bytes(50000, 4);
  TempFile f(bytes);
  UniqueFd fd(::open(f.path().c_str(), O_RDONLY));
  auto m = Mapping::map_file(fd.get(), 5000, 30000, false);
  ASSERT_TRUE(m.is_ok());
  EXPECT_TRUE(m->is_file_backed());
  EXPECT_TRUE(m->writable().empty());
  ASSERT_TRUE(std::equal(m->bytes().begin(), m->bytes().end(), bytes.begin() + 5000));
}

TEST(PageCache, EvictAndResidencyReportTheFile) {
  auto bytes = random_bytes(1 << 20, 5);
  TempFile f(bytes);
  auto r = residency(f.path());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->file_bytes, bytes.size());
  ASSERT_TRUE(evict(f.path()).is_ok());
  auto after = residency(f.path());
  ASSERT_TRUE(after.is_ok());
  EXPECT_LE(after->resident_bytes, r->file_bytes);
  EXPECT_EQ(residency("/nonexistent/thaw").status().code(), Code::kNotFound);
}

TEST(PageCache, WarmBringsAnEvictedFileBackIntoTheCache) {
  // Larger than the warm-up chunk and not a multiple of the page size.
  auto bytes = random_bytes((size_t{9} << 20) + 123, 6);
  TempFile f(bytes);
  ASSERT_TRUE(evict(f.path()).is_ok());
  auto cold = residency(f.path());
  ASSERT_TRUE(cold.is_ok());
  if (cold->resident_bytes == cold->file_bytes) GTEST_SKIP() << "this file system keeps files in memory";
  ASSERT_TRUE(warm_page_cache(f.path()).is_ok());
  auto warm = residency(f.path());
  ASSERT_TRUE(warm.is_ok());
  EXPECT_EQ(warm->resident_bytes, warm->file_bytes);
}

TEST(PageCache, WarmRejectsWhatItCannotRead) {
  EXPECT_EQ(warm_page_cache("/nonexistent/thaw").code(), Code::kNotFound);
  EXPECT_EQ(warm_page_cache("/tmp").code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace thaw::loader
