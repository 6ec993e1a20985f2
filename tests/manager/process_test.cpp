// Real `thaw run` workers and zygotes on the MiniLM bundle: start, readiness, forking, memory
// accounting, and that every way of ending leaves no process behind.
#include "manager/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "http/client.h"
#include "manager/proc_stat.h"
#include "manager/spawn.h"
#include "protocol/worker_protocol.h"

namespace thaw::manager {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Bounds for waiting on something another process does; generous so a busy machine passes.
constexpr milliseconds kSettle{15'000};

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "thaw_manager_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string write_script(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.file(name);
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

class ProcessTest : public ::testing::Test {
 protected:
  LaunchOptions options() const {
    LaunchOptions o;
    o.thaw_exe = THAW_BIN;
    o.bundle = MANAGER_BUNDLE;
    o.args = {"--warmup", "1"};
    o.log_path = dir_.file("process.log");
    o.ready_timeout = milliseconds(60'000);
    return o;
  }

  static int ready_status(const http::Endpoint& endpoint) {
    http::Client client(http::ClientOptions{endpoint, milliseconds(10'000)});
    auto r = client.get(protocol::kReadyPath);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r->status : 0;
  }

  // True when this process has no child left, running or unreaped.
  static bool no_children() { return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD; }

  static bool ends_within(pid_t pid, milliseconds limit) {
    return poll_until([pid] { return !process_running(pid, 0); }, limit);
  }

  TempDir dir_;
};

TEST_F(ProcessTest, WorkerOnAUnixSocketAnswers) {
  auto w = InstanceProcess::spawn(options(), http::Endpoint::unix_socket(dir_.file("w.sock")));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  EXPECT_FALSE((*w)->forked());
  EXPECT_EQ((*w)->endpoint().unix_path, dir_.file("w.sock"));
  EXPECT_TRUE((*w)->alive());
  EXPECT_EQ(ready_status((*w)->endpoint()), 200);
}

TEST_F(ProcessTest, WorkerOnTcpPortZeroReportsThePortItBound) {
  auto w = InstanceProcess::spawn(options(), http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  const http::Endpoint& ep = (*w)->endpoint();
  EXPECT_FALSE(ep.is_unix());
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_NE(ep.port, 0);
  EXPECT_EQ(ready_status(ep), 200);
  // The worker's stdout (its JSON events) lands in the log.
  EXPECT_NE(read_text(options().log_path).find("\"event\":\"ready\""), std::string::npos);
}

TEST_F(ProcessTest, WorkerInheritsOnlyItsStandardStreamsAndNoOtherDescriptor) {
  // Opened without O_CLOEXEC: exec alone would hand it to the child.
  std::string secret = dir_.file("not-for-the-child");
  std::ofstream(secret) << "x";
  UniqueFd leak(::open(secret.c_str(), O_RDONLY));
  ASSERT_TRUE(leak.valid());
  auto w = InstanceProcess::spawn(options(), http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  std::string fd_dir = "/proc/" + std::to_string((*w)->pid()) + "/fd";
  std::set<std::string> targets;
  for (const auto& entry : fs::directory_iterator(fd_dir)) {
    std::error_code ec;
    targets.insert(fs::read_symlink(entry.path(), ec).string());
  }
  EXPECT_EQ(targets.count(secret), 0u);
  EXPECT_EQ(fs::read_symlink(fd_dir + "/0").string(), "/dev/null");
  EXPECT_EQ(fs::read_symlink(fd_dir + "/1").string(), options().log_path);
  EXPECT_EQ(fs::read_symlink(fd_dir + "/2").string(), options().log_path);
}

TEST_F(ProcessTest, DestroyingTheHandleStopsTheWorker) {
  auto w = InstanceProcess::spawn(options(), http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  pid_t pid = (*w)->pid();
  w->reset();
  // Stopped and reaped: the pid no longer exists.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, StopEndsTheWorkerAndIsIdempotent) {
  auto w = InstanceProcess::spawn(options(), http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  (*w)->stop(milliseconds(5'000));
  EXPECT_FALSE((*w)->alive());
  (*w)->stop(milliseconds(5'000));
  (*w)->kill();
  EXPECT_FALSE((*w)->alive());
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AKilledWorkerIsNoLongerAlive) {
  auto w = InstanceProcess::spawn(options(), http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  ASSERT_EQ(::kill((*w)->pid(), SIGKILL), 0);
  EXPECT_TRUE(poll_until([&] { return !(*w)->alive(); }, kSettle));
}

TEST_F(ProcessTest, ABadBundleFailsWithTheExitStatusAndTheLogTail) {
  LaunchOptions o = options();
  o.bundle = dir_.file("missing.thaw");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  const std::string& msg = w.status().message();
  EXPECT_EQ(w.status().code(), Code::kUnavailable) << msg;
  EXPECT_NE(msg.find("exited with status 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("last lines of " + o.log_path), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing.thaw"), std::string::npos) << msg;  // the worker's own complaint
  EXPECT_NE(msg.find("reported \"load: "), std::string::npos) << msg;  // its error line
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, TheLogTailHoldsOnlyThisStartsLines) {
  LaunchOptions o = options();
  std::ofstream(o.log_path) << "an earlier run's line\n";
  o.thaw_exe = write_script(dir_, "fails.sh", "echo 'this start failed'; exit 3");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  const std::string& msg = w.status().message();
  EXPECT_NE(msg.find("exited with status 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("this start failed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("an earlier run's line"), std::string::npos) << msg;
}

TEST_F(ProcessTest, AReadyTimeoutKillsTheChildAndReportsIt) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "slow.sh", "echo \"starting slowly: $1\"; exec sleep 60");
  o.ready_timeout = milliseconds(300);
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  const std::string& msg = w.status().message();
  EXPECT_EQ(w.status().code(), Code::kDeadlineExceeded) << msg;
  EXPECT_NE(msg.find("starting slowly: run"), std::string::npos) << msg;
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AClosedReadyPipeWithoutALineIsAnError) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "closes.sh", "exec 3>&-; exec sleep 60");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("without reporting ready"), std::string::npos) << w.status().message();
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AGarbledReadyLineIsAnError) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "garbled.sh", "echo 'ready v1 not-an-endpoint' >&3; exec sleep 60");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), Code::kCorrupt) << w.status().message();
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, TheWorkerIsToldWhichProtocolVersionsTheSupervisorSpeaks) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "env.sh",
                            "echo \"protocol=$THAW_WORKER_PROTOCOL exec=$THAW_EXEC_BOOTTIME_NS\"; exit 3");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("protocol=1 exec="), std::string::npos) << w.status().message();
  EXPECT_EQ(w.status().message().find("exec= "), std::string::npos) << w.status().message();
}

TEST_F(ProcessTest, AWorkerOfAnotherProtocolVersionIsRefusedNamingBothVersions) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "v2.sh", "echo 'ready v2 127.0.0.1:1' >&3; exec sleep 60");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  const std::string& msg = w.status().message();
  EXPECT_EQ(w.status().code(), Code::kUnsupported) << msg;
  EXPECT_NE(msg.find("speaks worker protocol version 2, but this thaw speaks version 1"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("use a worker that speaks version 1"), std::string::npos) << msg;
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AWorkerWithoutAProtocolVersionIsRefused) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "v0.sh", "echo 'ready 127.0.0.1:1' >&3; exec sleep 60");
  auto z = ZygoteProcess::spawn(o, dir_.file("zygote.sock"));
  ASSERT_FALSE(z.is_ok());
  EXPECT_EQ(z.status().code(), Code::kUnsupported) << z.status().message();
  EXPECT_NE(z.status().message().find("without a protocol version"), std::string::npos)
      << z.status().message();
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AWorkerThatRefusesTheSupervisorsVersionIsReportedWithItsReason) {
  LaunchOptions o = options();
  o.thaw_exe =
      write_script(dir_, "refuses.sh",
                   "echo \"error this worker speaks version 2, not $THAW_WORKER_PROTOCOL\" >&3; exit 4");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  const std::string& msg = w.status().message();
  EXPECT_EQ(w.status().code(), Code::kUnavailable) << msg;
  EXPECT_NE(msg.find("reported \"this worker speaks version 2, not 1\" and exited with status 4"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AnotherWorkerCommandGetsTheSameArguments) {
  LaunchOptions o = options();
  o.exe_args = {};
  o.thaw_exe = write_script(dir_, "args.sh", "echo \"args: $*\"; exit 5");
  auto w = InstanceProcess::spawn(o, http::Endpoint::unix_socket(dir_.file("w.sock")));
  ASSERT_FALSE(w.is_ok());
  std::string want = "args: " + o.bundle + " --unix " + dir_.file("w.sock") + " --ready-fd 3 --warmup 1";
  EXPECT_NE(w.status().message().find(want), std::string::npos) << w.status().message();
}

TEST_F(ProcessTest, AZygoteReportingAnotherControlSocketIsAnError) {
  LaunchOptions o = options();
  o.thaw_exe = write_script(dir_, "elsewhere.sh", "echo 'ready v1 unix:/elsewhere.sock' >&3; exec sleep 60");
  auto z = ZygoteProcess::spawn(o, dir_.file("zygote.sock"));
  ASSERT_FALSE(z.is_ok());
  EXPECT_EQ(z.status().code(), Code::kCorrupt) << z.status().message();
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AMissingExecutableIsNotFound) {
  LaunchOptions o = options();
  o.thaw_exe = dir_.file("no-such-thaw");
  auto w = InstanceProcess::spawn(o, http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), Code::kNotFound) << w.status().message();
  EXPECT_NE(w.status().message().find("cannot execute"), std::string::npos);
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, AWorkerDiesWithTheProcessThatStartedIt) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    // The helper starts a worker, reports its pid and dies without stopping it.
    auto w = InstanceProcess::spawn(options(), http::Endpoint::tcp("127.0.0.1", 0));
    pid_t pid = w.is_ok() ? (*w)->pid() : -1;
    [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], &pid, sizeof(pid));
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  pid_t worker = -1;
  ASSERT_EQ(::read(pipe_fds[0], &worker, sizeof(worker)), static_cast<ssize_t>(sizeof(worker)));
  ::close(pipe_fds[0]);
  ASSERT_EQ(::waitpid(helper, nullptr, 0), helper);
  ASSERT_GT(worker, 0);
  EXPECT_TRUE(ends_within(worker, kSettle)) << "worker " << worker << " outlived its parent";
  if (process_running(worker, 0)) ::kill(worker, SIGKILL);
}

TEST_F(ProcessTest, ZygoteForksInstancesThatShareItsMemory) {
  auto z = ZygoteProcess::spawn(options(), dir_.file("zygote.sock"));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  EXPECT_TRUE((*z)->alive());
  EXPECT_EQ((*z)->control_path(), dir_.file("zygote.sock"));
  auto a = (*z)->fork_instance(http::Endpoint::tcp("127.0.0.1", 0), milliseconds(10'000));
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  auto b = (*z)->fork_instance(http::Endpoint::unix_socket(dir_.file("b.sock")), milliseconds(10'000));
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_TRUE((*a)->forked());
  EXPECT_TRUE((*b)->forked());
  EXPECT_NE((*a)->pid(), (*b)->pid());
  EXPECT_NE((*a)->endpoint().port, 0);
  EXPECT_EQ((*b)->endpoint().unix_path, dir_.file("b.sock"));
  EXPECT_EQ(ready_status((*a)->endpoint()), 200);
  EXPECT_EQ(ready_status((*b)->endpoint()), 200);
  EXPECT_TRUE((*a)->alive());
  EXPECT_TRUE((*b)->alive());

  auto zygote_pss = pss_bytes((*z)->pid());
  auto zygote_rss = rss_bytes((*z)->pid());
  auto child_pss = pss_bytes((*a)->pid());
  ASSERT_TRUE(zygote_pss.is_ok()) << zygote_pss.status().to_string();
  ASSERT_TRUE(zygote_rss.is_ok()) << zygote_rss.status().to_string();
  ASSERT_TRUE(child_pss.is_ok()) << child_pss.status().to_string();
  EXPECT_GT(*zygote_pss, 0u);
  EXPECT_GT(*child_pss, 0u);
  EXPECT_LE(*zygote_pss, *zygote_rss);
  // The child shares the template's weights: it pays for a fraction of them, not all.
  EXPECT_LT(*child_pss, *zygote_rss / 2) << "child PSS " << *child_pss << ", zygote RSS " << *zygote_rss;

  // kill -9 one instance: it is gone (the zygote reaps it).
  ASSERT_EQ(::kill((*a)->pid(), SIGKILL), 0);
  EXPECT_TRUE(poll_until([&] { return !(*a)->alive(); }, kSettle));
  EXPECT_TRUE((*b)->alive());

  // kill -9 the template: its remaining child follows it.
  ASSERT_EQ(::kill((*z)->pid(), SIGKILL), 0);
  EXPECT_TRUE(poll_until([&] { return !(*z)->alive(); }, kSettle));
  EXPECT_TRUE(poll_until([&] { return !(*b)->alive(); }, kSettle)) << "child outlived its zygote";
  auto after = (*z)->fork_instance(http::Endpoint::tcp("127.0.0.1", 0), milliseconds(1'000));
  ASSERT_FALSE(after.is_ok());
  EXPECT_EQ(after.status().code(), Code::kUnavailable);
}

TEST_F(ProcessTest, SeveralThreadsForkFromOneZygoteAtOnce) {
  auto z = ZygoteProcess::spawn(options(), dir_.file("zygote.sock"));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  constexpr int kThreads = 3;
  std::vector<Result<std::unique_ptr<InstanceProcess>>> forked;
  for (int i = 0; i < kThreads; ++i) forked.emplace_back(Status(Code::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      if ((*z)->alive())
        forked[i] = (*z)->fork_instance(http::Endpoint::tcp("127.0.0.1", 0), milliseconds(10'000));
    });
  for (auto& t : threads) t.join();
  std::set<pid_t> pids;
  for (auto& f : forked) {
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    pids.insert((*f)->pid());
    EXPECT_EQ(ready_status((*f)->endpoint()), 200);
  }
  EXPECT_EQ(pids.size(), static_cast<size_t>(kThreads));
}

TEST_F(ProcessTest, DestroyingTheZygoteStopsItsChildren) {
  auto z = ZygoteProcess::spawn(options(), dir_.file("zygote.sock"));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  auto a = (*z)->fork_instance(http::Endpoint::tcp("127.0.0.1", 0), milliseconds(10'000));
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  pid_t zygote = (*z)->pid();
  pid_t child = (*a)->pid();
  z->reset();
  EXPECT_EQ(::kill(zygote, 0), -1);
  EXPECT_TRUE(ends_within(child, kSettle));
  EXPECT_FALSE((*a)->alive());
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, ZygoteReportsAChildThatCannotListen) {
  auto z = ZygoteProcess::spawn(options(), dir_.file("zygote.sock"));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  auto bad =
      (*z)->fork_instance(http::Endpoint::unix_socket(dir_.file("no-such-dir/x.sock")), milliseconds(10'000));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kUnavailable) << bad.status().message();
  EXPECT_NE(bad.status().message().find("could not start"), std::string::npos) << bad.status().message();
  // The template carries on.
  auto good = (*z)->fork_instance(http::Endpoint::tcp("127.0.0.1", 0), milliseconds(10'000));
  ASSERT_TRUE(good.is_ok()) << good.status().to_string();
  EXPECT_EQ(ready_status((*good)->endpoint()), 200);
}

TEST_F(ProcessTest, AZygoteChildWhoseRequesterLeftExits) {
  auto z = ZygoteProcess::spawn(options(), dir_.file("zygote.sock"));
  ASSERT_TRUE(z.is_ok()) << z.status().to_string();
  // A requester that gave up: it sends the command but can no longer receive the answer.
  UniqueFd conn(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string control = (*z)->control_path();
  std::copy(control.begin(), control.end(), addr.sun_path);
  ASSERT_EQ(::connect(conn.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::shutdown(conn.get(), SHUT_RD), 0);
  std::string command = protocol::format_fork(http::Endpoint::tcp("127.0.0.1", 0));
  ASSERT_EQ(::send(conn.get(), command.data(), command.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(command.size()));
  // The template logs the child it forked, and the child logs that nobody took it.
  auto event_pid = [&](const std::string& name) -> pid_t {
    std::istringstream log(read_text(options().log_path));
    for (std::string line; std::getline(log, line);) {
      auto ev = nlohmann::json::parse(line, nullptr, false);
      if (ev.is_object() && ev.value("event", "") == name) return ev.value("pid", pid_t{-1});
    }
    return -1;
  };
  // Either line may be written first: the child can report before the template's fork returns.
  ASSERT_TRUE(poll_until([&] { return event_pid("abandoned") > 0 && event_pid("forked") > 0; }, kSettle))
      << read_text(options().log_path);
  pid_t child = event_pid("forked");
  EXPECT_EQ(child, event_pid("abandoned"));
  EXPECT_TRUE(ends_within(child, kSettle));
  EXPECT_TRUE((*z)->alive());
}

TEST_F(ProcessTest, ZygoteWithABadBundleFailsWithTheLogTail) {
  LaunchOptions o = options();
  o.bundle = dir_.file("missing.thaw");
  auto z = ZygoteProcess::spawn(o, dir_.file("zygote.sock"));
  ASSERT_FALSE(z.is_ok());
  const std::string& msg = z.status().message();
  EXPECT_NE(msg.find("exited with status 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing.thaw"), std::string::npos) << msg;
  EXPECT_TRUE(no_children());
}

TEST_F(ProcessTest, LongSocketPathsAreRefusedUpFront) {
  std::string long_path = "/tmp/" + std::string(200, 's') + ".sock";
  EXPECT_EQ(ZygoteProcess::spawn(options(), long_path).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(InstanceProcess::spawn(options(), http::Endpoint::unix_socket(long_path)).status().code(),
            Code::kInvalidArgument);
}

TEST(ProcessMemory, AProcessThatDoesNotExistHasNoMemory) {
  // pid_max never exceeds 2^22, so this pid cannot exist.
  auto pss = pss_bytes(pid_t{1} << 23);
  ASSERT_FALSE(pss.is_ok());
  EXPECT_EQ(pss.status().code(), Code::kNotFound);
  auto self = pss_bytes(::getpid());
  ASSERT_TRUE(self.is_ok()) << self.status().to_string();
  EXPECT_GT(*self, 0u);
}

TEST(ProcessMemory, AZombieHasNoMemory) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  // Unreaped, the child stays a zombie: its /proc entry exists, its memory map does not.
  ASSERT_TRUE(poll_until([pid] { return !process_running(pid, 0); }, kSettle));
  EXPECT_EQ(pss_bytes(pid).status().code(), Code::kNotFound);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace
}  // namespace thaw::manager
