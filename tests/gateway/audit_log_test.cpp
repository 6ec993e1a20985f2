#include "gateway/audit_log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace thaw::gateway {
namespace {

TEST(AuditLog, RecordsAdminActionsOnly) {
  EXPECT_TRUE(is_admin_action("POST", "/admin/models/m/drain"));
  EXPECT_TRUE(is_admin_action("POST", "/v2/repository/models/m/unload"));
  EXPECT_FALSE(is_admin_action("GET", "/admin/models"));
  EXPECT_FALSE(is_admin_action("POST", "/v2/models/m/infer"));
  EXPECT_FALSE(is_admin_action("", "/admin/models/m/drain")) << "refused before its head was read";
}

TEST(AuditLog, ALineIsOneJsonObjectWhateverTheTargetHolds) {
  http::RequestRecord r;
  r.remote = "203.0.113.7:50412";
  r.method = "POST";
  const std::string target = "/admin/models/m\n{\"forged\":1}\xff/drain";
  r.target = target;
  r.status = 401;
  r.duration = std::chrono::milliseconds(3);
  const std::string line = AuditLog::format(r, std::chrono::system_clock::time_point{});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["remote"], "203.0.113.7:50412");
  EXPECT_EQ(j["user"], "-");
  EXPECT_EQ(j["status"], 401);
  EXPECT_EQ(j["time"], "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace thaw::gateway
