// Fixed keep-alive: stay warm for N minutes after each request, then drop to disk. The policy of
// the large platforms (10 and 20 minutes) and of cron-style keep-warm pings (about 4 minutes).
#pragma once

#include "policy/policy.h"

namespace thaw::policy {

class FixedKeepAlive final : public Policy {
 public:
  explicit FixedKeepAlive(double keepalive_minutes);
  std::string spec() const override;
  void add_app(AppId, const AppInfo&) override {}
  void on_invocation(AppId, Nanos) override {}
  const IdlePlan& on_idle(AppId, Nanos) override { return plan_; }

 private:
  double keepalive_minutes_;
  IdlePlan plan_;
};

}  // namespace thaw::policy
