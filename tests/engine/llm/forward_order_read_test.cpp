// The background read of a GGUF's weights in forward-pass order: it reads every tensor byte (or
// finds it resident), and a file that is not a GGUF or an offset past its end reads nothing.
#include "engine/llm/forward_order_read.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;
const fs::path kGguf = fs::path(THAW_SOURCE_DIR) / "models/src/llm-tiny/model-q8_0.gguf";

TEST(ForwardOrderRead, CoversTheTensorsOfTheGguf) {
  if (!fs::exists(kGguf)) GTEST_SKIP() << "run scripts/setup.sh to make " << kGguf;
  ForwardOrderRead read(kGguf.string(), 0);
  read.join();
  const uint64_t covered = read.bytes_read() + read.bytes_resident();
  EXPECT_GT(covered, fs::file_size(kGguf) / 2);  // the tensors are most of the file
  EXPECT_LE(covered, fs::file_size(kGguf));
}

TEST(ForwardOrderRead, ReadsNothingOfWhatIsNotAGguf) {
  const fs::path junk = fs::temp_directory_path() / ("forward_order_read_" + std::to_string(::getpid()));
  std::ofstream(junk) << std::string(10000, 'x');
  {
    ForwardOrderRead read(junk.string(), 0);
    read.join();
    EXPECT_EQ(read.bytes_read() + read.bytes_resident(), 0u);
    ForwardOrderRead past(junk.string(), 1 << 20);
    ForwardOrderRead missing((junk / "nothing").string(), 0);
  }  // the destructors stop and join
  fs::remove(junk);
}

}  // namespace
}  // namespace thaw::engine
