#include <gtest/gtest.h>

#include "gateway/proxy.h"

namespace thaw::gateway {
namespace {

TEST(Refusal, ClientsReadTheCauseButNoInternals) {
  const Status start_failed(Code::kUnavailable,
                            "model 'm' failed to start (worker for /srv/models/m.thaw (pid 4242) exited with status 2; "
                            "last lines of /tmp/thaw-serve-x/m-1.log:\n  error: --no-such-flag); the next attempt is in 1.0 s");
  const std::string shown = public_message(start_failed, "m");
  for (const char* secret : {"4242", "/srv", "/tmp", "--no-such-flag", ".log"})
    EXPECT_EQ(shown.find(secret), std::string::npos) << secret << " in " << shown;
  EXPECT_NE(shown.find("'m'"), std::string::npos);

  const Status corrupt(Code::kUnavailable,
                       "worker for /srv/m/flipped.thaw (pid 26328) reported \"load: corrupt: bundle /srv/m/flipped.thaw: "
                       "its data failed the check: chunks[52]\" and exited with status 3; last lines of "
                       "/tmp/thaw-serve-x/flipped.log:\n  {\"error\":\"corrupt\"}\n  thaw run: load: corrupt");
  EXPECT_EQ(public_message(corrupt, "flipped"),
            "worker for flipped.thaw reported \"load: corrupt: bundle flipped.thaw: its data failed the check: "
            "chunks[52]\" and exited with status 3")
      << "the cause and the bundle's name stay; its directory, the pid and the log go";

  const Status unloaded(Code::kUnavailable, "model 'm' is unloaded; POST /v2/repository/models/m/load serves it again");
  EXPECT_EQ(public_message(unloaded, "m"), unloaded.message()) << "a route is not an internal path";
  const Status slow(Code::kDeadlineExceeded, "no instance of 'm' had a free slot within 300 ms (1 running, 0 starting)");
  EXPECT_EQ(public_message(slow, "m"), slow.message());
  EXPECT_EQ(public_message(Status(Code::kUnavailable, "cannot connect to the zygote at unix:/run/t/z.sock"), "m")
                .find("z.sock"),
            std::string::npos);

  const http::Response admin = refusal(start_failed, manager::Tier::kStandard, true, "m");
  EXPECT_NE(admin.body.find("no-such-flag"), std::string::npos) << "the admin reads it all";
  const http::Response client = refusal(start_failed, manager::Tier::kStandard, false, "m");
  EXPECT_EQ(client.status, 503);
  EXPECT_EQ(client.body.find("no-such-flag"), std::string::npos);
}

}  // namespace
}  // namespace thaw::gateway
