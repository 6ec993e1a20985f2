#include "http/credentials.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace thaw::http {
namespace {

Request with(Headers h) {
  Request r;
  r.method = "POST";
  r.headers = std::move(h);
  return r;
}

TEST(Credentials, BearerOrApiKey) {
  EXPECT_EQ(request_credential(with({{"Authorization", "Bearer abc"}})), "abc");
  EXPECT_EQ(request_credential(with({{"authorization", "  bearer   abc  "}})), "abc");
  EXPECT_FALSE(request_credential(with({{"Authorization", "Basic abc"}})));
  EXPECT_FALSE(request_credential(with({{"Authorization", "Bearer "}})));
  EXPECT_EQ(request_credential(with({{"X-API-Key", "k1"}})), "k1");
  EXPECT_FALSE(request_credential(with({})));
}

TEST(Credentials, SecretsCompareWhole) {
  EXPECT_TRUE(secret_equals("same-secret", "same-secret"));
  EXPECT_FALSE(secret_equals("same-secret", "same-secreT"));
  EXPECT_FALSE(secret_equals("same-secret", "same-secret-and-more"));
  EXPECT_FALSE(secret_equals("", "x"));
}

TEST(Credentials, ForeignOrigins) {
  EXPECT_FALSE(foreign_origin(with({{"Host", "127.0.0.1:8000"}}), {})) << "no Origin: not a browser";
  EXPECT_FALSE(foreign_origin(with({{"Host", "127.0.0.1:8000"}, {"Origin", "http://127.0.0.1:8000"}}), {}));
  EXPECT_EQ(foreign_origin(with({{"Host", "127.0.0.1:8000"}, {"Origin", "http://127.0.0.1:9000"}}), {}),
            "http://127.0.0.1:9000");
  EXPECT_TRUE(foreign_origin(with({{"Host", "a"}, {"Origin", "null"}}), {}));
  EXPECT_FALSE(foreign_origin(with({{"Host", "a"}, {"Origin", "https://ok.example"}}), {"https://ok.example"}));
  EXPECT_FALSE(foreign_origin(with({{"Host", "a"}, {"Origin", "https://any.example"}}), {"*"}));
}

TEST(Credentials, DirectHosts) {
  for (std::string host : {"127.0.0.1", "127.0.0.1:8000", "[::1]:8000", "localhost", "LOCALHOST:1", "10.1.2.3:80"})
    EXPECT_TRUE(host_is_direct(with({{"Host", host}}), {})) << host;
  EXPECT_FALSE(host_is_direct(with({{"Host", "attacker.example:8000"}}), {}));
  EXPECT_TRUE(host_is_direct(with({{"Host", "thaw.svc:8000"}}), {"thaw.svc"}));
  EXPECT_TRUE(host_is_direct(with({}), {}));
}

TEST(Credentials, SecretFilesMustBePrivateAndLongEnough) {
  const auto dir = std::filesystem::temp_directory_path() / ("thaw-cred-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = (dir / name).string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  };
  auto ok = read_secret_file(write("ok", "  0123456789abcdef0123  \nsecond line\n", 0600));
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(*ok, "0123456789abcdef0123");
  auto open = read_secret_file(write("open", "0123456789abcdef0123\n", 0644));
  ASSERT_FALSE(open.is_ok());
  EXPECT_NE(open.status().message().find("chmod 600"), std::string::npos);
  EXPECT_FALSE(read_secret_file(write("short", "short\n", 0600)).is_ok());
  EXPECT_FALSE(read_secret_file(write("empty", "", 0600)).is_ok());
  EXPECT_FALSE(read_secret_file((dir / "missing").string()).is_ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace thaw::http
