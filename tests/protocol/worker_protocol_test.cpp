// Every line of the worker protocol: what one side formats, the other parses back, and every
// malformed or foreign line is an error value that says what it got.
#include "protocol/worker_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace thaw::protocol {
namespace {

std::string strip(std::string line) {
  EXPECT_TRUE(line.ends_with('\n')) << line;
  line.pop_back();
  return line;
}

bool mentions(const Status& s, std::string_view text) { return s.message().find(text) != std::string::npos; }

TEST(WorkerProtocol, ArgumentsFollowTheBundleInTheOrderTheSpecGives) {
  std::vector<std::string> extra{"--model-name", "m", "--warmup", "0"};
  EXPECT_EQ(instance_args("b.thaw", http::Endpoint::unix_socket("/run/w.sock"), extra),
            (std::vector<std::string>{"b.thaw", "--unix", "/run/w.sock", "--ready-fd", "3", "--model-name",
                                      "m", "--warmup", "0"}));
  EXPECT_EQ(instance_args("b.thaw", http::Endpoint::tcp("127.0.0.1", 0), {}),
            (std::vector<std::string>{"b.thaw", "--host", "127.0.0.1", "--port", "0", "--ready-fd", "3"}));
  EXPECT_EQ(zygote_args("b.thaw", "/run/z.sock", extra),
            (std::vector<std::string>{"b.thaw", "--zygote", "/run/z.sock", "--ready-fd", "3", "--model-name",
                                      "m", "--warmup", "0"}));
}

TEST(WorkerProtocol, AWorkerSpeaksTheVersionTheSupervisorAnnounces) {
  EXPECT_EQ(announced_versions(), "1");
  EXPECT_EQ(*choose_version(nullptr), kVersion);
  EXPECT_EQ(*choose_version("1"), 1);
  EXPECT_EQ(*choose_version("1,2"), 1);
  EXPECT_EQ(*choose_version("7,1"), 1);
}

TEST(WorkerProtocol, AWorkerRefusesASupervisorOfAnotherVersionNamingBoth) {
  auto v = choose_version("2");
  ASSERT_FALSE(v.is_ok());
  EXPECT_EQ(v.status().code(), Code::kUnsupported);
  EXPECT_TRUE(mentions(v.status(), "supervisor speaks worker protocol version 2")) << v.status().message();
  EXPECT_TRUE(mentions(v.status(), "this worker speaks version 1")) << v.status().message();
  EXPECT_TRUE(mentions(v.status(), "THAW_WORKER_PROTOCOL=2")) << v.status().message();
  EXPECT_TRUE(mentions(choose_version("2,3").status(), "versions 2,3"));
  for (const char* bad : {"", "one", "1,", ",1", "0", "-1", "1 2"})
    EXPECT_EQ(choose_version(bad).status().code(), Code::kInvalidArgument) << "'" << bad << "'";
  EXPECT_TRUE(mentions(choose_version("one").status(), "this worker speaks version 1"));
}

TEST(WorkerProtocol, ReadyLinesCarryTheVersionAndTheEndpoint) {
  EXPECT_EQ(format_ready(http::Endpoint::tcp("127.0.0.1", 40123)), "ready v1 127.0.0.1:40123\n");
  EXPECT_EQ(format_ready(http::Endpoint::unix_socket("/run/a b.sock")), "ready v1 unix:/run/a b.sock\n");
  for (const auto& ep : {http::Endpoint::tcp("127.0.0.1", 40123), http::Endpoint::tcp("::1", 80),
                         http::Endpoint::unix_socket("/run/a b.sock")}) {
    auto r = parse_ready_report(strip(format_ready(ep)));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_TRUE(r->ready);
    EXPECT_EQ(r->endpoint.to_string(), ep.to_string());
  }
}

TEST(WorkerProtocol, ErrorLinesCarryTheWorkersMessageOnOneLine) {
  EXPECT_EQ(format_error("load: no such\nfile"), "error load: no such file\n");
  auto r = parse_ready_report(strip(format_error("load: bundle missing")));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_FALSE(r->ready);
  EXPECT_EQ(r->error, "load: bundle missing");
  EXPECT_FALSE(parse_ready_report("error")->ready);
}

TEST(WorkerProtocol, AReadyLineOfAnotherVersionIsRefusedNamingBoth) {
  auto r = parse_ready_report("ready v2 127.0.0.1:5");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_TRUE(mentions(r.status(), "speaks worker protocol version 2")) << r.status().message();
  EXPECT_TRUE(mentions(r.status(), "this thaw speaks version 1")) << r.status().message();
  // A future version may change everything after the version word.
  EXPECT_EQ(parse_ready_report("ready v2").status().code(), Code::kUnsupported);
}

TEST(WorkerProtocol, AnUnversionedReadyLineIsRefusedAsOlderThanVersionOne) {
  for (std::string_view line : {"ready 127.0.0.1:5", "ready unix:/run/w.sock", "ready /run/z.sock"}) {
    auto r = parse_ready_report(line);
    ASSERT_FALSE(r.is_ok()) << line;
    EXPECT_EQ(r.status().code(), Code::kUnsupported) << line;
    EXPECT_TRUE(mentions(r.status(), "without a protocol version")) << r.status().message();
  }
}

TEST(WorkerProtocol, GarbledReadyLinesAreCorrupt) {
  for (std::string_view line :
       {"", "READY v1 127.0.0.1:5", "ready v1", "ready v1 not-an-endpoint", "errors x", "hello"})
    EXPECT_EQ(parse_ready_report(line).status().code(), Code::kCorrupt) << "'" << line << "'";
}

TEST(WorkerProtocol, ForkCommandsNameWhereTheChildListens) {
  EXPECT_EQ(format_fork(http::Endpoint::unix_socket("/run/i.sock")), "fork unix:/run/i.sock\n");
  EXPECT_EQ(parse_fork("fork")->to_string(), kDefaultForkEndpoint.to_string());
  EXPECT_EQ(parse_fork("fork 127.0.0.1:0")->to_string(), "127.0.0.1:0");
  EXPECT_EQ(parse_fork(strip(format_fork(http::Endpoint::unix_socket("/run/i.sock"))))->unix_path,
            "/run/i.sock");
  for (std::string_view bad : {"", "explode", "forks", "fork ", "fork no-port-here"})
    EXPECT_EQ(parse_fork(bad).status().code(), Code::kInvalidArgument) << "'" << bad << "'";
  EXPECT_TRUE(mentions(parse_fork("explode").status(), "send \"fork [ENDPOINT]\""));
}

TEST(WorkerProtocol, ForkRepliesCarryThePidAndTheEndpoint) {
  EXPECT_EQ(format_forked(4242, http::Endpoint::tcp("127.0.0.1", 40125)), "ready 4242 127.0.0.1:40125\n");
  auto r = parse_forked(strip(format_forked(4242, http::Endpoint::unix_socket("/run/i.sock"))));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->pid, 4242);
  EXPECT_EQ(r->endpoint.unix_path, "/run/i.sock");
}

TEST(WorkerProtocol, ForkErrorsAndGarbledRepliesAreErrorValues) {
  auto error = parse_forked(strip(format_error("listening on /x: no such directory")));
  EXPECT_EQ(error.status().code(), Code::kUnavailable);
  EXPECT_EQ(error.status().message(), "listening on /x: no such directory");
  for (std::string_view bad : {"", "ready", "ready x 127.0.0.1:1", "ready -3 127.0.0.1:1", "ready 12", "ok"})
    EXPECT_EQ(parse_forked(bad).status().code(), Code::kCorrupt) << "'" << bad << "'";
  pid_t stray = -1;
  EXPECT_EQ(parse_forked("ready 4242 nowhere", &stray).status().code(), Code::kCorrupt);
  EXPECT_EQ(stray, 4242);
}

TEST(WorkerProtocol, TheInferPathNamesTheModel) {
  EXPECT_EQ(infer_path("minilm"), "/v2/models/minilm/infer");
}

}  // namespace
}  // namespace thaw::protocol
