// The bounded line reader and writer on pipes and sockets. Deadlines are only ever in the past
// here: a passed deadline still takes what is already there, and nothing waits on a timer.
#include "protocol/line_io.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/unique_fd.h"

namespace thaw::protocol {
namespace {

using std::chrono::steady_clock;

struct Pair {
  UniqueFd a, b;  // a pipe: a reads, b writes; a socket pair: both ways
};

Pair make_pipe() {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Pair make_socketpair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Deadline passed() { return steady_clock::now() - std::chrono::seconds(1); }
Deadline later() { return steady_clock::now() + std::chrono::seconds(30); }

TEST(LineIo, ALineWrittenIsReadBackWithoutItsNewline) {
  for (auto make : {make_pipe, make_socketpair}) {
    Pair p = make();
    ASSERT_TRUE(write_line(p.b.get(), "ready v1 unix:/run/a b.sock\n", later()).is_ok());
    auto line = read_line(p.a.get(), later());
    ASSERT_TRUE(line.is_ok()) << line.status().to_string();
    EXPECT_EQ(*line, "ready v1 unix:/run/a b.sock");
  }
}

TEST(LineIo, ACarriageReturnBeforeTheNewlineIsDropped) {
  Pair p = make_socketpair();
  ASSERT_TRUE(write_line(p.b.get(), "fork\r\n", later()).is_ok());
  EXPECT_EQ(*read_line(p.a.get(), later()), "fork");
}

TEST(LineIo, ALineAlreadyThereIsReadEvenPastTheDeadline) {
  Pair p = make_pipe();
  ASSERT_TRUE(write_line(p.b.get(), "fork\n", later()).is_ok());
  EXPECT_EQ(*read_line(p.a.get(), passed()), "fork");
}

TEST(LineIo, NothingByTheDeadlineIsDeadlineExceeded) {
  Pair p = make_socketpair();
  ASSERT_TRUE(write_line(p.b.get(), "half a li", later()).is_ok());
  EXPECT_EQ(read_line(p.a.get(), passed()).status().code(), Code::kDeadlineExceeded);
}

TEST(LineIo, EndOfFileBeforeANewlineIsUnavailable) {
  Pair p = make_pipe();
  ASSERT_TRUE(write_line(p.b.get(), "ready v1", later()).is_ok());
  p.b.reset();
  auto line = read_line(p.a.get(), later());
  EXPECT_EQ(line.status().code(), Code::kUnavailable);
  EXPECT_NE(line.status().message().find("8 bytes"), std::string::npos) << line.status().message();
}

TEST(LineIo, AnOverlongLineIsCorrupt) {
  Pair p = make_socketpair();
  ASSERT_TRUE(write_line(p.b.get(), std::string(100, 'x') + "\n", later()).is_ok());
  EXPECT_EQ(read_line(p.a.get(), later(), 64).status().code(), Code::kCorrupt);
  // A line of exactly the limit, newline included, fits.
  Pair q = make_socketpair();
  ASSERT_TRUE(write_line(q.b.get(), std::string(63, 'x') + "\n", later()).is_ok());
  EXPECT_EQ(read_line(q.a.get(), later(), 64)->size(), 63u);
}

TEST(LineIo, WritingToAPeerThatHasGoneIsUnavailableAndRaisesNoSignal) {
  Pair p = make_socketpair();
  p.a.reset();
  EXPECT_EQ(write_line(p.b.get(), "ready 1 127.0.0.1:1\n", later()).code(), Code::kUnavailable);
  // A pipe whose reader has gone, with SIGPIPE ignored as a worker may have it.
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);
  Pair q = make_pipe();
  q.a.reset();
  EXPECT_EQ(write_line(q.b.get(), "ready v1 127.0.0.1:1\n", later()).code(), Code::kUnavailable);
  ::sigaction(SIGPIPE, &old, nullptr);
}

TEST(LineIo, AFullSocketPastTheDeadlineIsDeadlineExceeded) {
  Pair p = make_socketpair();
  std::string big(1 << 22, 'x');  // more than a socket buffer holds
  EXPECT_EQ(write_line(p.b.get(), big, passed()).code(), Code::kDeadlineExceeded);
}

}  // namespace
}  // namespace thaw::protocol
