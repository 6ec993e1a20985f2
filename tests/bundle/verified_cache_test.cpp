#include "bundle/verified_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace thaw::bundle {
namespace {
namespace fs = std::filesystem;

class VerifiedCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-verified-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    file_ = (dir_ / "m.thaw").string();
    std::ofstream(file_) << "bundle bytes";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string file_;
};

TEST_F(VerifiedCacheTest, AFileIsVerifiedOnceMarkedUntilItChanges) {
  VerifiedCache cache((dir_ / "cache").string());
  EXPECT_FALSE(cache.verified(file_));
  auto key = VerifiedCache::key(file_);
  ASSERT_TRUE(key.is_ok()) << key.status().to_string();
  ASSERT_TRUE(cache.mark(*key).is_ok());
  EXPECT_TRUE(cache.verified(file_));

  // A new modification time (same size) is a new file as far as the cache knows.
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 678}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file_.c_str(), times, 0), 0);
  EXPECT_FALSE(cache.verified(file_));
  ASSERT_TRUE(cache.mark(*VerifiedCache::key(file_)).is_ok());
  EXPECT_TRUE(cache.verified(file_));

  // So is another size, and another inode under the same name.
  std::ofstream(file_, std::ios::app) << "more";
  EXPECT_FALSE(cache.verified(file_));
  ASSERT_TRUE(cache.mark(*VerifiedCache::key(file_)).is_ok());
  const std::string copy = (dir_ / "copy").string();
  fs::copy_file(file_, copy);
  fs::rename(copy, file_);
  EXPECT_FALSE(cache.verified(file_));
}

TEST_F(VerifiedCacheTest, ForgetDropsTheMarkerOfTheFileAsItIsNow) {
  VerifiedCache cache((dir_ / "cache").string());
  ASSERT_TRUE(cache.mark(*VerifiedCache::key(file_)).is_ok());
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(VerifiedCache::key(st), *VerifiedCache::key(file_));
  cache.forget(file_);
  EXPECT_FALSE(cache.verified(file_));
  cache.forget(file_);  // nothing left: no error
  VerifiedCache("").forget(file_);
}

TEST_F(VerifiedCacheTest, WithoutADirectoryNothingIsCached) {
  VerifiedCache cache("");
  ASSERT_TRUE(cache.mark(*VerifiedCache::key(file_)).is_ok());
  EXPECT_FALSE(cache.verified(file_));
}

TEST_F(VerifiedCacheTest, AMissingFileHasNoKey) {
  auto key = VerifiedCache::key((dir_ / "absent.thaw").string());
  ASSERT_FALSE(key.is_ok());
  EXPECT_EQ(key.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace thaw::bundle
