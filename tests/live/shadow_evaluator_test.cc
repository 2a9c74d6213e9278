// Shadow evaluation: disagreements counted by role, action and decisions,
// a fixed-size table that counts what it cannot keep, and concurrent use.
#include "engine/live/shadow_evaluator.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/compile/compiler.h"
#include "engine/load/policy_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace portcullis {
namespace {

constexpr absl::string_view kActive = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
    }
  }
  roles {
    id: "r-clerk"
    name: "Clerk"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
      }
    }
  }
  roles {
    id: "r-boss"
    name: "Boss"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-clerk" }
  entities { id: "e-2" partner_id: "p-1" }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "all:delete" }
)pb";

// Clerks read only their own payables, e-2 gets a default role, payable
// gains an export action, and c-1 may only read.
constexpr absl::string_view kCandidate = R"pb(
  catalog {
    object_types {
      name: "payable"
      actions { name: "read" }
      actions { name: "approve" }
      actions { name: "export" }
    }
  }
  roles {
    id: "r-clerk"
    name: "Clerk"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED_FOR_OWN }
      }
    }
  }
  roles {
    id: "r-boss"
    name: "Boss"
    permissions {
      objects {
        object_type: "payable"
        actions { action_name: "read" permission: ALLOWED }
        actions { action_name: "approve" permission: ALLOWED }
        actions { action_name: "export" permission: ALLOWED }
      }
    }
  }
  entities { id: "e-1" partner_id: "p-1" default_role_id: "r-clerk" }
  entities { id: "e-2" partner_id: "p-1" default_role_id: "r-boss" }
  credentials { client_id: "c-1" partner_id: "p-1" scopes: "payable:read" }
)pb";

std::shared_ptr<const CompiledPolicy> CompileText(absl::string_view text) {
  absl::StatusOr<v1::PolicySet> set = ParsePolicyText(text);
  EXPECT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<const CompiledPolicy>> policy = Compile(*set);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

CheckRequestView User(absl::string_view entity, absl::string_view role,
                      absl::string_view action) {
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kEntityUser;
  view.user_id = "u-1";
  view.user_entity_id = entity;
  view.role_id = role;
  view.object_type = "payable";
  view.action = action;
  view.entity_id = entity;
  return view;
}

CheckRequestView Partner(absl::string_view action) {
  CheckRequestView view;
  view.principal_kind = CheckRequestView::PrincipalKind::kPartner;
  view.client_id = "c-1";
  view.object_type = "payable";
  view.action = action;
  view.entity_id = "e-1";
  return view;
}

std::unique_ptr<ShadowEvaluator> MakeShadow(
    const ShadowOptions& options = ShadowOptions()) {
  absl::StatusOr<std::unique_ptr<ShadowEvaluator>> shadow =
      ShadowEvaluator::Create(CompileText(kActive), CompileText(kCandidate),
                              options);
  EXPECT_TRUE(shadow.ok()) << shadow.status();
  return *std::move(shadow);
}

TEST(ShadowEvaluatorTest, CreateRejectsBadArguments) {
  struct Case {
    const char* name;
    bool null_policy;
    ShadowOptions options;
    std::string message;
  };
  ShadowOptions no_sampling;
  no_sampling.sample_one_in = 0;
  ShadowOptions no_table;
  no_table.max_disagreements = 0;
  const Case cases[] = {
      {"null_policy", true, ShadowOptions(), "shadow: a policy is null"},
      {"sample_one_in_0", false, no_sampling,
       "shadow: sample_one_in must be at least 1"},
      {"max_disagreements_0", false, no_table,
       "shadow: max_disagreements must be between 1 and 2^30"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::unique_ptr<ShadowEvaluator>> shadow =
        ShadowEvaluator::Create(c.null_policy ? nullptr : CompileText(kActive),
                                CompileText(kCandidate), c.options);
    ASSERT_FALSE(shadow.ok());
    EXPECT_EQ(shadow.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(shadow.status().message()), c.message);
  }
}

TEST(ShadowEvaluatorTest, CountsDisagreementsByRoleActionAndDecisions) {
  const std::unique_ptr<ShadowEvaluator> shadow = MakeShadow();
  struct Request {
    CheckRequestView view;
    int times;
    Decision active;
  };
  const Request requests[] = {
      // Default role: allowed -> allowed_for_own.
      {User("e-1", "", "read"), 3, {Verdict::kAllowed, Reason::kGranted}},
      // Agreement.
      {User("e-1", "r-boss", "approve"),
       2,
       {Verdict::kAllowed, Reason::kGranted}},
      // No default role in the active policy; r-boss in the candidate.
      {User("e-2", "", "read"), 1, {Verdict::kNotAllowed, Reason::kRbac}},
      // The candidate's scope stops the partner.
      {Partner("approve"), 2, {Verdict::kAllowed, Reason::kGranted}},
      // An action only the candidate has.
      {User("e-1", "r-boss", "export"),
       1,
       {Verdict::kNotAllowed, Reason::kUnknownAction}},
  };
  for (const Request& request : requests) {
    for (int i = 0; i < request.times; ++i) {
      EXPECT_EQ(shadow->Check(request.view), request.active);
    }
  }
  const ShadowReport report = shadow->Report();
  EXPECT_EQ(report.sampled, 9u);
  EXPECT_EQ(report.disagreed, 7u);
  EXPECT_EQ(report.overflow, 0u);
  EXPECT_EQ(report.ToText(),
            "shadow: 9 checks sampled, 7 disagreed (0 not kept)\n"
            "  3  role \"r-clerk\"  payable.read  allowed (granted) -> "
            "allowed_for_own (ownership)\n"
            "  2  partner  payable.approve  allowed (granted) -> not_allowed "
            "(scope)\n"
            "  1  role \"r-boss\"  payable.export  not_allowed "
            "(unknown_action) -> allowed (granted)\n"
            "  1  role \"r-boss\"  payable.read  not_allowed (rbac) -> allowed "
            "(granted)\n");
  ASSERT_EQ(report.disagreements.size(), 4u);
  EXPECT_EQ(report.disagreements[1].partner, true);
  EXPECT_EQ(report.disagreements[1].role, "");
  EXPECT_EQ(report.disagreements[1].candidate,
            (Decision{Verdict::kNotAllowed, Reason::kScope}));
}

TEST(ShadowEvaluatorTest, ObservesChecksByIds) {
  const std::unique_ptr<ShadowEvaluator> shadow = MakeShadow();
  const CompiledPolicy& active = shadow->active();
  const Principal user = *active.BindEntityUser("u-1", "e-1", "", "c-1");
  const ActionId read = *active.FindAction("payable", "read");
  const EntityId entity = *active.FindEntity("e-1");
  const ResourceRef own{entity, "u-1"};
  const ResourceRef other{entity, "u-2"};
  const Decision allowed{Verdict::kAllowed, Reason::kGranted};
  shadow->Observe(user, read, entity, nullptr, allowed);
  shadow->Observe(user, read, entity, &own, allowed);
  shadow->Observe(user, read, entity, &other, allowed);
  // Ids of another snapshot are not observed.
  const Principal stale =
      *shadow->candidate().BindEntityUser("u-1", "e-1", "", "c-1");
  shadow->Observe(stale, read, entity, nullptr, allowed);
  shadow->Observe(Principal(), read, entity, nullptr, allowed);

  const ShadowReport report = shadow->Report();
  EXPECT_EQ(report.sampled, 3u);
  EXPECT_EQ(report.ToText(),
            "shadow: 3 checks sampled, 2 disagreed (0 not kept)\n"
            "  1  role \"r-clerk\"  payable.read  allowed (granted) -> "
            "not_allowed (ownership)\n"
            "  1  role \"r-clerk\"  payable.read  allowed (granted) -> "
            "allowed_for_own (ownership)\n");
}

TEST(ShadowEvaluatorTest, AFullTableCountsWhatItCannotKeep) {
  ShadowOptions options;
  options.max_disagreements = 1;
  const std::unique_ptr<ShadowEvaluator> shadow = MakeShadow(options);
  for (int i = 0; i < 4; ++i) shadow->Check(User("e-1", "", "read"));
  for (int i = 0; i < 3; ++i) shadow->Check(Partner("approve"));
  const ShadowReport report = shadow->Report();
  EXPECT_EQ(report.sampled, 7u);
  EXPECT_EQ(report.disagreed, 7u);
  EXPECT_EQ(report.overflow, 3u);
  ASSERT_EQ(report.disagreements.size(), 1u);
  EXPECT_EQ(report.disagreements[0].count, 4u);
  EXPECT_EQ(report.disagreements[0].role, "r-clerk");
}

TEST(ShadowEvaluatorTest, ConcurrentObserversLoseNothing) {
  const std::unique_ptr<ShadowEvaluator> shadow = MakeShadow();
  constexpr int kThreads = 4;
  constexpr int kChecks = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kChecks; ++i) {
        shadow->Check(User("e-1", "", "read"), t);
        shadow->Check(Partner(i % 2 == 0 ? "approve" : "read"), t);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const ShadowReport report = shadow->Report();
  EXPECT_EQ(report.sampled, 2u * kThreads * kChecks);
  EXPECT_EQ(report.disagreed, 1u * kThreads * kChecks + kThreads * kChecks / 2);
  ASSERT_EQ(report.disagreements.size(), 2u);
  EXPECT_EQ(report.disagreements[0].count, 1u * kThreads * kChecks);
  EXPECT_EQ(report.disagreements[1].count, 1u * kThreads * kChecks / 2);
}

}  // namespace
}  // namespace portcullis
