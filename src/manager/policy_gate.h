// The keep-alive policy shared by every model, behind one mutex (policies are pure and single-
// threaded). Taken after a model's mutex, never before.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "policy/policy.h"

namespace thaw::manager {

class PolicyGate {
 public:
  explicit PolicyGate(std::unique_ptr<policy::Policy> policy) : policy_(std::move(policy)) {}

  void add_app(policy::AppId app, const policy::AppInfo& info) {
    std::lock_guard lock(mu_);
    policy_->add_app(app, info);
  }
  void on_invocation(policy::AppId app, Nanos now) {
    std::lock_guard lock(mu_);
    policy_->on_invocation(app, now);
  }
  // Copied into `plan` (reusing its storage): the policy's reference is only valid until its
  // next call for the app.
  void on_idle(policy::AppId app, Nanos now, policy::IdlePlan& plan) {
    std::lock_guard lock(mu_);
    plan = policy_->on_idle(app, now);
  }
  void tick(Nanos now) {
    std::lock_guard lock(mu_);
    policy_->tick(now);
  }
  void take_revisions(std::vector<policy::PlanRevision>& out) {
    std::lock_guard lock(mu_);
    policy_->take_revisions(out);
  }
  std::string spec() const {
    std::lock_guard lock(mu_);
    return policy_->spec();
  }

 private:
  mutable std::mutex mu_;
  std::unique_ptr<policy::Policy> policy_;
};

}  // namespace thaw::manager
